"""The README's two commands stay quiet and clean for a newcomer: the installs print nothing but errors (the
banner is what `make run` shows), and the project's metadata gives setuptools nothing to warn about."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_install_in_the_makefile_is_quiet() -> None:
    installs = [ln for ln in (REPO / "Makefile").read_text().splitlines() if "pip install" in ln]
    assert len(installs) >= 3
    # regression: `-q` still printed 111 lines (setuptools' warnings about our own metadata among them)
    assert all(re.search(r"pip install -qq\b", ln) for ln in installs), installs


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    # a table (`{text = …}`) is deprecated and warned about at every install by current setuptools
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (REPO / "LICENSE").read_text()[:200]
