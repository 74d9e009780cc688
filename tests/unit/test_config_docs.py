"""docs/configuration.md lists every option of the settings models, so the reference cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import REGISTRY
from router.app.deal_settings import LineCrm
from router.app.settings import (
    AutoRepliesSettings,
    CrmSettings,
    DistributionSettings,
    HoursSettings,
    HttpSettings,
    LimitsSettings,
    LineSettings,
    LogSettings,
    OperatorSettings,
    QueueSettings,
    QuickAnswerSettings,
    Settings,
    StorageSettings,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
SECTIONS = [
    (Settings, ""),
    (HttpSettings, "http."),
    (StorageSettings, "storage."),
    (QueueSettings, "queue."),
    (LimitsSettings, "limits."),
    (CrmSettings, "crm."),
    (LogSettings, "log."),
    (OperatorSettings, "operators[]."),
    (LineSettings, "lines[]."),
    (DistributionSettings, "distribution."),
    (HoursSettings, "hours."),
    (AutoRepliesSettings, "auto_replies."),
    (QuickAnswerSettings, "quick_answers."),
    (LineCrm, "lines[].crm."),
]


@pytest.mark.parametrize(("model", "prefix"), SECTIONS, ids=[p or "top" for _, p in SECTIONS])
def test_every_setting_is_documented(model, prefix):
    # a field's key in the YAML: its alias when it has one (crm.statuses is CrmSettings.pipeline)
    keys = [f.alias or name for name, f in model.model_fields.items()]
    missing = [f"{prefix}{key}" for key in keys if f"`{prefix}{key}`" not in DOC]
    assert not missing, f"undocumented options: {missing}"


def test_every_channel_option_is_documented():
    missing = [
        f"{kind}.{name}"
        for kind, cls in REGISTRY.items()
        for name in cls.Settings.model_fields
        if f"`{kind}.{name}`" not in DOC
    ]
    assert not missing, f"undocumented channel options: {missing}"
