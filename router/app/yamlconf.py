"""Load YAML keeping each value's line number, and expand ${VAR} / ${VAR:-default} from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


@dataclass(frozen=True)
class ConfigProblem:
    """One problem of a config file, printed as FILE:LINE: path.to.field: message."""

    file: str
    line: int
    path: Path
    message: str

    def __str__(self) -> str:
        dotted = ".".join(str(p) for p in self.path) or "(top)"
        return f"{self.file}:{self.line}: {dotted}: {self.message}"


@dataclass
class LoadedYaml:
    """Plain data plus the line of every path in it."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)

    def line_of(self, path: Path) -> int:
        """The line of the longest prefix of `path` that the file has (1 for the whole file)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)


def load_yaml(text: str, filename: str, env: Mapping[str, str] | None = None) -> LoadedYaml:
    """Parse YAML text; syntax errors and unset variables become problems, never exceptions."""
    env = os.environ if env is None else env
    out = LoadedYaml(data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        out.problems.append(ConfigProblem(filename, line, (), f"invalid YAML: {problem}"))
        return out
    except RecursionError:
        out.problems.append(ConfigProblem(filename, 1, (), "invalid YAML: nested too deeply"))
        return out
    if node is None:
        out.data = {}
        return out
    try:
        out.data = _build(node, (), out, filename, env, frozenset())
    except _Recursive as exc:
        out.problems.append(ConfigProblem(filename, exc.line, exc.path, "a YAML alias refers to itself"))
        out.data = None
    except RecursionError:
        out.problems.append(ConfigProblem(filename, 1, (), "invalid YAML: nested too deeply"))
        out.data = None
    return out


class _Recursive(Exception):
    def __init__(self, line: int, path: Path) -> None:
        super().__init__("recursive alias")
        self.line, self.path = line, path


def _build(
    node: yaml.Node, path: Path, out: LoadedYaml, filename: str, env: Mapping[str, str], above: frozenset[int]
) -> Any:
    out.lines[path] = node.start_mark.line + 1
    if id(node) in above:  # `&a [*a]`: an alias inside its own anchor would recurse forever
        raise _Recursive(node.start_mark.line + 1, path)
    above = above | {id(node)}
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in result:
                out.problems.append(
                    ConfigProblem(filename, key_node.start_mark.line + 1, (*path, key), "duplicate key")
                )
            result[key] = _build(value_node, (*path, key), out, filename, env, above)
            out.lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), out, filename, env, above) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    value = yaml.SafeLoader(b"").construct_object(node)
    if isinstance(value, str) and "${" in value:
        return _expand(value, path, node.start_mark.line + 1, out, filename, env)
    return value


def _expand(value: str, path: Path, line: int, out: LoadedYaml, filename: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        out.problems.append(
            ConfigProblem(
                filename, line, path, f"environment variable {name} is not set (use ${{{name}:-default}})"
            )
        )
        return ""

    return _VAR.sub(sub, value)
