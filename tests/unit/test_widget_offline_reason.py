"""connectors/widget_forms.offline_reason: whether the widget says the line does not work, by its `offline.when`."""

from __future__ import annotations

import pytest

from connectors.widget_forms import offline_reason


@pytest.mark.parametrize(
    ("when", "is_open", "staffed", "reason"),
    [
        ("closed_or_nobody", True, True, None),
        ("closed_or_nobody", False, True, "closed"),
        ("closed_or_nobody", True, False, "nobody_online"),
        ("closed_or_nobody", False, False, "closed"),  # closed says more: nobody is expected then
        ("closed", True, False, None),  # open with nobody online: people may write and wait
        ("closed", False, False, "closed"),
        ("nobody_online", False, True, None),  # someone online after hours answers
        ("nobody_online", True, False, "nobody_online"),
    ],
)
def test_offline_reason(when: str, is_open: bool, staffed: bool, reason: str | None) -> None:
    assert offline_reason(when, is_open=is_open, staffed=staffed) == reason
