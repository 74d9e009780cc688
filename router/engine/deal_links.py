"""Lines that create deals (`lines[].crm.create: deal`): after the batch that opened a dialog there committed, the
dialog joins its customer's open deal of the line's pipeline, or a new deal in the first stage (with a contact for
the customer); a customer's open deals nobody owns go to the operator who took their dialog. Off the batch path, in
a task of its own: lines that create leads pay nothing, and a deal's writes never hold a batch up. At least once: a
process stopped in between leaves open dialogs without a deal, which the start and each sweep find again (the
store's links and open keys are unique, so a second try finds what the first made)."""

from __future__ import annotations

import asyncio
from typing import Any

from crm_core.changes import Changes
from crm_core.deals import open_key
from crm_core.store import Store
from router.app import log_events as ev
from router.app.clock import Clock
from router.app.logs import get
from router.app.settings import Settings
from router.engine.faults import end_tasks, transient

log = get(__name__)
SWEEP_EVERY_S = 60.0
RETRY_S = 2.0


class DealLinks:
    """The deals of the dialogs on lines that create them."""

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        crm = settings.crm
        # line → (pipeline, its first stage, its currency)
        self.lines: dict[str, tuple[str, str, str]] = {}
        for line in settings.lines:
            if line.crm.create == "deal":
                p = crm.deal_pipeline(line.crm.pipeline)
                assert p is not None  # the config's reference check
                self.lines[line.id] = (p.id, p.stages[0].id, p.currency)
        self.won = next((s.id for s in crm.pipeline if s.kind == "won"), None)
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task, which first finds the open dialogs still without a deal."""
        if self.lines and self._task is None:
            self._task = asyncio.create_task(self._run(), name="engine.deals")

    async def stop(self) -> None:
        """Stop the task (what is queued is found again at the next start)."""
        task, self._task = self._task, None
        if task is not None:
            await end_tasks([task])

    def committed(self, changes: Changes) -> None:
        """A batch committed: its new dialogs on deal lines, and its customers given to an operator."""
        if not self.lines:
            return
        for row in changes.dialogs_new:
            if row["line_id"] in self.lines:
                self._queue.put_nowait(("join", row))
        for row in changes.lead_updates:
            if row.get("responsible"):
                self._queue.put_nowait(("adopt", row))

    async def _run(self) -> None:
        await self._sweep()
        while True:
            try:
                kind, row = await asyncio.wait_for(self._queue.get(), SWEEP_EVERY_S)
            except TimeoutError:
                await self._sweep()
                continue
            while True:
                try:
                    await self._do(kind, row)
                    break
                except Exception as exc:
                    if not transient(exc):
                        log.exception(ev.DEAL_LINK_FAILED, what=kind, row=row.get("id"))
                        break
                    log.warning(ev.DEAL_LINK_FAILED, what=kind, row=row.get("id"), error=str(exc))
                    await asyncio.sleep(RETRY_S)

    async def _sweep(self) -> None:
        try:
            for row in await self.store.dialogs_without_deal(list(self.lines)):
                self._queue.put_nowait(("join", row))
        except Exception as exc:
            log.warning(ev.DEAL_LINK_FAILED, what="sweep", error=str(exc))

    async def _do(self, kind: str, row: dict[str, Any]) -> None:
        now = self.clock.now()
        if kind == "adopt":
            await self.store.adopt_deals(row["id"], row["responsible"], now=now)
            return
        pipeline, stage, currency = self.lines[row["line_id"]]
        deal_id, new = await self.store.join_deal(
            row["id"],
            {
                "pipeline": pipeline,
                "stage": stage,
                "currency": currency,
                "title": row.get("customer_name") or "",
                "lead_id": row["lead_id"],
                "line_id": row["line_id"],
                "source": row.get("source_tag") or row["line_id"],
                "open_key": open_key(row["lead_id"], pipeline),
            },
            now=now,
            lead_status=self.won,
        )
        log.info(ev.DEAL_JOINED, dialog=row["id"], deal=deal_id, new=new)
