"""The store's split into modules: the names other packages import from crm_core.store stay there, and no module of
crm_core grows past the size rule."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import IntegrityError

import crm_core.store
from crm_core import changes, errors, lookups

CRM_CORE = Path(__file__).resolve().parents[2] / "crm_core"
MAX_LINES = 400


def test_the_names_importers_use_stay_importable_from_crm_core_store() -> None:
    from crm_core.store import Changes, DuplicateKey, Key, StaleDialog, Store

    assert Changes is changes.Changes
    assert DuplicateKey is errors.DuplicateKey is IntegrityError
    assert Key == lookups.Key == tuple[str, str, str]
    assert StaleDialog is errors.StaleDialog
    assert Store.__module__ == "crm_core.store"
    assert set(crm_core.store.__all__) == {"Changes", "DuplicateKey", "Key", "StaleDialog", "Store"}


def test_no_crm_core_module_is_over_the_size_rule() -> None:
    sizes = {
        p.relative_to(CRM_CORE).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in sorted(CRM_CORE.rglob("*.py"))
        if "migrations" not in p.parts
    }
    assert sizes, "no sources found"
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
