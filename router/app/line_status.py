"""Whether a line works now, for the channels that tell customers (the widget's off-hours form): within its business
hours (router/rules/hours.py) and with an operator of its queue online (the console hub's presence, across web
processes with several)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from router.app.blocks import channel_blocks
from router.app.clock import Clock
from router.app.settings import LineSettings, Settings
from router.rules.hours import Schedule, is_open

Presences = Callable[[Iterable[str]], Awaitable[dict[str, str]]]


@dataclass(frozen=True)
class Status:
    """A line now (connectors/base.py `LineStatus`)."""

    open: bool  # within its business hours
    staffed: bool  # an operator of its queue online


class LineStatuses:
    """A channel's accounts' lines, their schedules, and the operators' presence once the hub is up."""

    def __init__(self, settings: Settings, channel: str, clock: Clock) -> None:
        self.clock = clock
        self.presences: Presences | None = None  # set when the console hub starts (after the channels)
        self._lines: dict[str, tuple[LineSettings, Schedule]] = {
            account: (ln, ln.schedule()) for ln, account, _ in channel_blocks(settings, channel)
        }

    async def status(self, account: str) -> Status | None:
        """The line's status now; None for an unknown account."""
        found = self._lines.get(account)
        if found is None:
            return None
        line, schedule = found
        staffed = True  # not known yet (no hub): nobody is turned away for it
        if self.presences is not None and line.queue:
            seen = await self.presences(line.queue)
            staffed = any(seen.get(login) == "online" for login in line.queue)
        elif not line.queue:
            staffed = False
        return Status(is_open(schedule, self.clock.now()), staffed)
