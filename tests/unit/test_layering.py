"""DESIGN.md "who may import whom", checked by walking every import (ast) of our packages.

- queues/ and crm_core/ import nothing of ours but themselves (crm_core/migrations included: crm_core only);
- connectors/ import only queues/ (and themselves);
- router/ imports queues/ and crm_core/ (and itself); only router/app/daemon.py and router/app/cli.py import connectors/;
- the pure modules do no I/O.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = ("router", "connectors", "queues", "crm_core")
ALLOWED: dict[str, set[str]] = {
    "queues": {"queues"},
    "crm_core": {"crm_core"},
    "connectors": {"connectors", "queues"},
    "router": {"router", "queues", "crm_core"},
}
COMPOSITION_ROOT = {"router/app/daemon.py", "router/app/cli.py"}  # may also import connectors/


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repo, with forward slashes
    line: int
    module: str  # absolute dotted name

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: imports {self.module}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[Import]:
    """Every import statement of a file, anywhere in it (functions, TYPE_CHECKING blocks, try/except)."""
    rel = path.relative_to(REPO).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    out: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(rel, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module == "__future__":
                continue
            out.append(Import(rel, node.lineno, module))
            # `from pkg import mod` imports pkg.mod too; record it when it is one of our modules
            out += [
                Import(rel, node.lineno, f"{module}.{alias.name}")
                for alias in node.names
                if (REPO / Path(*module.split("."), f"{alias.name}.py")).exists()
                or (REPO / Path(*module.split("."), alias.name, "__init__.py")).exists()
            ]
    return out


def our_files() -> list[Path]:
    files = [p for top in OURS for p in sorted((REPO / top).rglob("*.py")) if ".venv" not in p.parts]
    assert files, "no sources found"
    return files


def top_of(module: str) -> str:
    return module.split(".", 1)[0]


def violations() -> list[str]:
    out: list[str] = []
    for path in our_files():
        rel = path.relative_to(REPO).as_posix()
        owner = top_of(rel.replace("/", "."))
        allowed = ALLOWED[owner] | ({"connectors"} if rel in COMPOSITION_ROOT else set())
        for imp in imports_of(path):
            target = top_of(imp.module)
            if target in OURS and target not in allowed:
                out.append(str(imp))
    return sorted(set(out))


# ---- the walker itself ----------------------------------------------------------------------------------


def test_walker_finds_the_composition_roots_imports() -> None:
    modules = {i.module for i in imports_of(REPO / "router" / "app" / "daemon.py")}
    assert any(top_of(m) == "connectors" for m in modules), modules
    assert any(top_of(m) == "queues" for m in modules), modules
    assert any(top_of(m) == "crm_core" for m in modules), modules


def test_walker_sees_nested_relative_and_from_imports() -> None:
    source = (
        "from __future__ import annotations\n"
        "import os, queues.bus\n"
        "from . import sibling\n"
        "from ..crm_core import store\n"
        "def f():\n"
        "    from connectors import widget\n"
        "if TYPE_CHECKING:\n"
        "    import router.engine.core as e\n"
    )
    imps = _imports_of_text(source, REPO / "router" / "probe.py")
    assert sorted((i.line, i.module) for i in imps) == [
        (2, "os"),
        (2, "queues.bus"),
        (3, "router"),
        (4, "crm_core"),
        (4, "crm_core.store"),
        (6, "connectors"),
        (6, "connectors.widget"),
        (8, "router.engine.core"),
    ]


def _imports_of_text(source: str, as_path: Path) -> list[Import]:
    """`imports_of` on text, as if it were the file `as_path` (without writing into the repo)."""
    original = Path.read_text

    def fake_read(self: Path, *args: object, **kwargs: object) -> str:
        return source if self == as_path else original(self, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "read_text", fake_read)
        return imports_of(as_path)


def test_walker_reports_a_violation() -> None:
    imps = _imports_of_text("from connectors.base import X\n", REPO / "queues" / "probe.py")
    assert [str(i) for i in imps] == ["queues/probe.py:1: imports connectors.base"]


# ---- the rules ------------------------------------------------------------------------------------------


def test_who_may_import_whom() -> None:
    found = violations()
    assert found == [], "layering violations (see DESIGN.md, 'Who may import whom'):\n" + "\n".join(found)


@pytest.mark.parametrize("top", ["queues", "crm_core"])
def test_leaf_packages_import_nothing_of_ours(top: str) -> None:
    bad = [
        str(i)
        for p in sorted((REPO / top).rglob("*.py"))
        for i in imports_of(p)
        if top_of(i.module) in OURS and top_of(i.module) != top
    ]
    assert bad == []


def test_only_the_composition_root_imports_connectors() -> None:
    importers = sorted(
        {
            i.file
            for p in sorted((REPO / "router").rglob("*.py"))
            for i in imports_of(p)
            if top_of(i.module) == "connectors"
        }
    )
    assert set(importers) <= COMPOSITION_ROOT, importers


PURE = [
    "router/rules/distribution.py",
    "router/rules/dialogs.py",
    "router/rules/hours.py",
    "router/rules/autoreply.py",
    "router/rules/access.py",
    "crm_core/recognition.py",
]
IO_MODULES = {
    "asyncio",
    "aiohttp",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "redis",
    "socket",
    "os",
    "time",
    "random",
    "secrets",
    "uuid",
    "threading",
    "subprocess",
    "requests",
    "httpx",
    "structlog",
    "logging",
}


@pytest.mark.parametrize("rel", PURE)
def test_pure_modules_do_no_io(rel: str) -> None:
    path = REPO / rel
    imported = {top_of(i.module) for i in imports_of(path)}
    assert imported & IO_MODULES == set(), f"{rel} imports {sorted(imported & IO_MODULES)}"
    # a pure module takes `now` as an argument; it never reads a clock
    source = path.read_text(encoding="utf-8")
    for pattern in (
        r"datetime\.now",
        r"datetime\.utcnow",
        r"date\.today",
        r"time\.time",
        r"time\.monotonic",
        r"\bopen\(",
    ):
        assert not re.search(pattern, source), f"{rel} uses {pattern}"
    # pure modules import only the standard library and other pure modules
    ours = {i.module for i in imports_of(path) if top_of(i.module) in OURS}
    assert ours <= {m.removesuffix(".py").replace("/", ".") for m in PURE} | {"router", "crm_core"}, ours
