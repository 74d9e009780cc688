"""The base of every bus event: its kind and version travel with the payload (queues/messages.py has the events,
queues/codec.py encodes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every bus event; `kind` and `version` travel with the payload."""

    kind: ClassVar[str] = "event"
    version: ClassVar[int] = 1
