"""config/openlines.example.yaml is valid and shows every option."""

from __future__ import annotations

import re
from pathlib import Path

from connectors import REGISTRY, VALIDATORS
from router.app.settings import load_settings
from tests.unit.test_config_docs import SECTIONS

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "openlines.example.yaml"


def test_example_config_is_valid():
    settings, problems = load_settings(EXAMPLE, env={}, channel_validators=VALIDATORS)
    assert settings is not None, [str(p) for p in problems]


def test_example_config_shows_every_option():
    keys = set(re.findall(r"^\s*(?:- )?([a-z_]+):", EXAMPLE.read_text(), flags=re.MULTILINE))
    options = {f.alias or name for model, _ in SECTIONS for name, f in model.model_fields.items()}
    options |= {name for cls in REGISTRY.values() for name in cls.Settings.model_fields}
    assert options - keys == set()
