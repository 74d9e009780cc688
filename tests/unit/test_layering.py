"""The house plan (docs/architecture.md, "The map"), checked by walking every import (ast) of our packages.

Packages: queues/ and crm_core/ import nothing of ours; connectors/ import only queues/; router/ imports queues/,
crm_core/ and itself, by rooms:

- router/rules/     PURE decisions: other rules and queues.messages types only; no I/O modules, no clock reads;
- router/protocol/  the public protocol's shapes and time format, pure: rules, protocol, queues/ types;
- router/cluster/   what router workers share: rules, the process's infrastructure, queues;
- router/engine/    the I/O shell: rules, protocol, cluster, infrastructure, queues, crm_core; never web;
- router/web/       the HTTP side: the same, never the engine (the composition root hands it what it needs);
- router/app/       the process's infrastructure (settings, logs, log events, metrics, clock): rules, queues;
- the composition root (router/app/ cli and its lead_cli, daemon, channels, secrets): anything, connectors/
  included; nothing imports it.
A module bigger than 400 lines holds more than one idea: split it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = ("router", "connectors", "queues", "crm_core")
ROOT = {
    "router.app.cli",
    "router.app.lead_cli",
    "router.app.daemon",
    "router.app.channels",
    "router.app.secrets",
}
INFRA = "app"  # the process's infrastructure: router/app/ but the composition root

# room -> (the rooms it may import, why)
RULES: dict[str, tuple[set[str], str]] = {
    "queues": ({"queues"}, "queues/ imports nothing of ours"),
    "crm_core": ({"crm_core"}, "crm_core/ imports nothing of ours"),
    "connectors": (
        {"connectors", "queues"},
        "a connector imports only queues/ (it gets the rest in its context)",
    ),
    "rules": ({"rules", "queues.messages"}, "rules are pure: other rules and queues.messages types only"),
    "protocol": ({"protocol", "rules", "queues"}, "the protocol's shapes are pure: rules and queues/ types"),
    "cluster": ({"cluster", "rules", INFRA, "queues"}, "cluster/ never imports the engine, web or the root"),
    "engine": (
        {"engine", "rules", "protocol", "cluster", INFRA, "queues", "crm_core"},
        "the engine never imports web/ or the composition root",
    ),
    "web": (
        {"web", "rules", "protocol", "cluster", INFRA, "queues", "crm_core"},
        "web/ reaches the engine only through what the composition root gives it",
    ),
    INFRA: ({INFRA, "rules", "queues"}, "the process's infrastructure imports no room but the rules"),
    "root": (
        {"root", INFRA, "rules", "protocol", "cluster", "engine", "web", "queues", "crm_core", "connectors"},
        "",
    ),
}


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


def room_of(module: str) -> str | None:
    """The room a module of ours lives in (None: not ours)."""
    parts = module.split(".")
    if parts[0] not in OURS:
        return None
    if parts[0] != "router":
        return "queues.messages" if module == "queues.messages" else parts[0]
    if len(parts) == 1:
        return "router"  # the package itself: every room of router/ may name it
    if parts[1] == "app":
        return "root" if ".".join(parts[:3]) in ROOT else INFRA
    return parts[1]


def _allowed(owner: str, target: str) -> bool:
    allowed, _ = RULES[owner]
    if target in allowed:
        return True
    if target == "queues.messages":  # a room that may import queues/ may import its messages
        return "queues" in allowed
    return target == "router" and owner in RULES and owner not in ("queues", "crm_core", "connectors")


def check(imports: list[Import]) -> list[str]:
    """The imports that break a rule, each with the rule it breaks."""
    out = []
    for imp in imports:
        owner = room_of(_module_name(REPO / imp.file))
        owner = "queues" if owner == "queues.messages" else owner
        target = room_of(imp.module)
        if owner is None or target is None or owner == "router":
            continue
        if not _allowed(owner, target):
            out.append(f"{imp} ({target}): {RULES[owner][1]}")
    return out


def violations() -> list[str]:
    return sorted({v for path in our_files() for v in check(imports_of(path))})


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


@pytest.mark.parametrize(
    ("as_file", "source", "rule"),
    [
        ("queues/probe.py", "from connectors.base import X\n", "queues/ imports nothing of ours"),
        ("router/engine/probe.py", "from router.web.hub import ConsoleHub\n", "never imports web/"),
        ("router/engine/probe.py", "from router.app.daemon import Daemon\n", "composition root"),
        ("router/web/probe.py", "from router.engine.core import Engine\n", "reaches the engine only"),
        ("router/web/probe.py", "import connectors.widget\n", "reaches the engine only"),
        ("router/rules/probe.py", "from crm_core.store import Store\n", "rules are pure"),
        ("router/rules/probe.py", "from queues.bus import INBOUND\n", "rules are pure"),
        ("router/rules/probe.py", "from router.app.clock import Clock\n", "rules are pure"),
        ("router/protocol/probe.py", "from router.engine import state\n", "shapes are pure"),
        ("router/protocol/probe.py", "from crm_core.store import Store\n", "shapes are pure"),
        ("router/cluster/probe.py", "from router.engine.core import Engine\n", "never imports the engine"),
        ("router/app/probe.py", "from router.engine.core import Engine\n", "no room but the rules"),
        ("connectors/probe.py", "from router.app.settings import Settings\n", "only queues/"),
    ],
)
def test_a_deliberate_violation_names_the_rule_it_breaks(as_file: str, source: str, rule: str) -> None:
    found = check(_imports_of_text(source, REPO / as_file))
    assert len(found) >= 1 and all(rule in v for v in found), found
    assert found[0].startswith(f"{as_file}:1: imports ")


@pytest.mark.parametrize(
    ("as_file", "source"),
    [
        (
            "router/engine/probe.py",
            "from router.rules import dialogs\nfrom router.cluster.fence import Fence\n",
        ),
        (
            "router/web/probe.py",
            "from router.protocol.views import dialog_view\nfrom crm_core.store import Store\n",
        ),
        (
            "router/rules/probe.py",
            "from queues.messages import InboundMessage\nfrom router.rules import hours\n",
        ),
        ("router/app/daemon.py", "from connectors import REGISTRY\nfrom router.engine.core import Engine\n"),
        ("router/app/probe.py", "from router.rules.hours import Schedule\n"),
    ],
)
def test_what_the_rules_allow_passes(as_file: str, source: str) -> None:
    assert check(_imports_of_text(source, REPO / as_file)) == []


# ---- the rules ------------------------------------------------------------------------------------------


def test_who_may_import_whom() -> None:
    found = violations()
    assert found == [], "layering violations (docs/architecture.md, 'The map'):\n" + "\n".join(found)


def test_every_module_of_router_lives_in_a_room() -> None:
    loose = [p.name for p in (REPO / "router").glob("*.py") if p.name != "__init__.py"]
    assert loose == [], (
        f"put these into a room of router/ (rules, protocol, engine, cluster, web, app): {loose}"
    )
    rooms = {p.name for p in (REPO / "router").iterdir() if (p / "__init__.py").exists()}
    assert rooms == {"rules", "protocol", "engine", "cluster", "web", "app"}, rooms


def test_nothing_imports_the_composition_root() -> None:
    importers = sorted(
        {
            f"{i.file} -> {i.module}"
            for p in our_files()
            for i in imports_of(p)
            if i.module in ROOT and _module_name(p) not in ROOT
        }
    )
    assert importers == []


LIMIT = 400


@pytest.mark.parametrize("top", ["router", "queues", "crm_core", "connectors"])
def test_no_module_is_over_400_lines(top: str) -> None:
    big = {
        p.relative_to(REPO).as_posix(): n
        for p in sorted((REPO / top).rglob("*.py"))
        if "migrations" not in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert big == {}, f"modules over {LIMIT} lines hold more than one idea: split them {big}"


PURE_ROOMS = ["router/rules", "router/protocol"]
PURE_FILES = ["crm_core/recognition.py"]
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


def _pure_files() -> list[str]:
    rooms = [p.relative_to(REPO).as_posix() for r in PURE_ROOMS for p in sorted((REPO / r).glob("*.py"))]
    return rooms + PURE_FILES


def test_the_pure_rooms_are_not_empty() -> None:
    assert len(_pure_files()) >= 8


@pytest.mark.parametrize("rel", _pure_files())
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


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (anywhere in it, TYPE_CHECKING blocks included)."""
    modules = {_module_name(p): p for p in our_files()}
    return {
        name: {i.module for i in imports_of(path) if i.module in modules and i.module != name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_back_reference() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back_round_a_circle() -> None:
    found = cycles(import_graph())
    assert found == [], f"import circles (pass a protocol or the values instead of the importer): {found}"
