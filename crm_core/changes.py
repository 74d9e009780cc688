"""`Changes`: what one engine batch writes, in one transaction (`Store.apply`, crm_core/store.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Changes:
    """Everything one engine batch changes, written in one transaction."""

    leads: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    dialogs_new: list[dict[str, Any]] = field(default_factory=list)
    dialogs_changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    lead_updates: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_done: list[str] = field(default_factory=list)
    message_updates: list[dict[str, Any]] = field(default_factory=list)
    lead_fills: list[dict[str, Any]] = field(default_factory=list)  # set fields only where still empty
    consents: list[dict[str, Any]] = field(default_factory=list)  # channel, account, external_id, allowed
    lead_events: list[dict[str, Any]] = field(default_factory=list)  # the leads' journal (crm_core.models)

    def __bool__(self) -> bool:
        return any(
            (
                self.leads,
                self.identities,
                self.dialogs_new,
                self.dialogs_changed,
                self.lead_updates,
                self.messages,
                self.events,
                self.outbox,
                self.outbox_done,
                self.message_updates,
                self.lead_fills,
                self.consents,
                self.lead_events,
            )
        )
