"""The in-process twin of the shared routing load: one process, and the contract suite's reference."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from router.cluster.shared_load import MS, WAITING_WINDOW, Hold, Kind, Load, Presence, from_ms, to_ms
from router.rules.fairness import Waiting


class MemorySharedLoad:
    """SharedLoad in one process's memory: no await inside a method, so each method is atomic."""

    def __init__(self) -> None:
        self._presence: dict[str, str] = {}
        self._holds: dict[str, dict[str, tuple[Kind, int]]] = {}
        self._last: dict[str, int] = {}
        self._waiting: dict[str, dict[str, int]] = {}
        self._tabs: dict[str, dict[str, int]] = {}  # login -> process -> expiry ms
        self._want: dict[str, str] = {}
        self._tab_version: dict[str, int] = {}
        self._epoch = 0

    async def load(self, logins: Iterable[str], lines: Iterable[str] = ()) -> Load:
        """Presence, hold counts and last offer time of every given operator; the waiting order of `lines`."""
        result = Load(presence={}, assigned={}, offered={}, last_offered_at={})
        for line_id in dict.fromkeys(lines):
            entries = sorted((ms, dialog_id) for dialog_id, ms in self._waiting.get(line_id, {}).items())
            result.waiting[line_id] = [Waiting(from_ms(ms), i, line_id) for ms, i in entries[:WAITING_WINDOW]]
        for login in logins:
            result.presence[login] = self._presence.get(login, "offline")
            kinds = [kind for kind, _ in self._holds.get(login, {}).values()]
            result.placed.update(self._holds.get(login, {}))
            result.assigned[login] = kinds.count("assigned")
            result.offered[login] = kinds.count("offered")
            if login in self._last:
                result.last_offered_at[login] = from_ms(self._last[login])
        return result

    def _tabs_change(
        self, login: str, process: str | None, connected: bool, want: str | None, now_ms: int, ttl_ms: int
    ) -> tuple[Presence, bool]:
        tabs = self._tabs.setdefault(login, {})
        changed = False
        if process is not None:
            if connected:
                changed = process not in tabs
                tabs[process] = now_ms + ttl_ms
            elif tabs.pop(process, None) is not None:
                changed = True
        if want is not None and self._want.get(login) != want:
            self._want[login] = want
            changed = True
        for name in [name for name, expiry in tabs.items() if expiry < now_ms]:
            del tabs[name]
            changed = True
        if changed:
            self._tab_version[login] = self._tab_version.get(login, 0) + 1
        status = self._want.get(login, "online") if tabs else "offline"
        return Presence(login, status, self._tab_version.get(login, 0)), changed

    async def tab(
        self, login: str, process: str, connected: bool, want: str | None, now: datetime, ttl: timedelta
    ) -> Presence:
        """A web process got its first socket of an operator (or lost its last one), or the operator chose a status
        (`want`); their presence across every web process afterwards."""
        return self._tabs_change(login, process, connected, want, to_ms(now), ttl // MS)[0]

    async def renew_tabs(self, logins: Iterable[str], process: str, now: datetime, ttl: timedelta) -> None:
        """A web process still has sockets of these operators: their fields live another `ttl`."""
        for login in logins:
            self._tabs_change(login, process, True, None, to_ms(now), ttl // MS)

    async def expire_tabs(self, logins: Iterable[str], now: datetime) -> list[Presence]:
        """Drop the fields of web processes that stopped renewing them; the operators whose presence changed."""
        out = []
        for login in dict.fromkeys(logins):
            presence, changed = self._tabs_change(login, None, False, None, to_ms(now), 0)
            if changed:
                out.append(presence)
        return out

    async def set_waiting(self, add: Iterable[Waiting], remove: Iterable[Waiting]) -> None:
        """Put dialogs into their lines' waiting order (again: idempotent) and take others out."""
        for w in remove:
            self._waiting.get(w.line_id, {}).pop(w.dialog_id, None)
        for w in add:
            self._waiting.setdefault(w.line_id, {})[w.dialog_id] = to_ms(w.since)

    async def set_presence(self, login: str, status: str) -> None:
        """Set an operator's presence and bump the epoch."""
        self._presence[login] = status
        self._epoch += 1

    async def reserve(self, hold: Hold, limit: int | None, now: datetime) -> bool:
        """Take (or re-kind) a slot; False when the operator is at `limit`."""
        ms = to_ms(now)
        held = self._holds.setdefault(hold.login, {})
        if hold.dialog_id not in held and limit is not None and len(held) >= limit:
            return False
        held[hold.dialog_id] = (hold.kind, ms)
        if hold.kind == "offered":
            self._last[hold.login] = ms
        return True

    async def release(self, holds: Iterable[Hold]) -> None:
        """Drop holds whose stored kind matches; bump the epoch once if anything was removed."""
        removed = False
        for hold in holds:
            held = self._holds.get(hold.login, {})
            current = held.get(hold.dialog_id)
            if current is not None and current[0] == hold.kind:
                del held[hold.dialog_id]
                removed = True
        if removed:
            self._epoch += 1

    async def epoch(self) -> int:
        """The current epoch (0 before any change)."""
        return self._epoch

    async def holds(self, logins: Iterable[str]) -> list[tuple[Hold, datetime]]:
        """Every hold of the given operators with when it was (re)reserved, by login then dialog id."""
        return [
            (Hold(login, dialog_id, kind), from_ms(ms))
            for login in dict.fromkeys(logins)
            for dialog_id, (kind, ms) in sorted(self._holds.get(login, {}).items())
        ]

    async def close(self) -> None:
        """Nothing to release."""
