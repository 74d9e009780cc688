"""A batch applies a dialog transition's outcome: the dialog staged, its effects turned into dialog-event rows,
lead updates and console frames, and the no-answer auto-reply it may ask for."""

from __future__ import annotations

from typing import Any

from crm_core.lead_history import history_row
from queues.messages import dumps
from router.app import log_events as ev
from router.app.logs import get
from router.engine.records import dialog_row
from router.engine.staging import Staging, reply_state
from router.protocol.times import iso
from router.protocol.views import dialog_view
from router.rules import autoreply
from router.rules import dialogs as dm
from router.rules.dialog import Dialog, Effect, Invited, Left, Outcome, evolve

log = get(__name__)


class Outcomes(Staging):
    """Applies the outcomes of transitions to the batch."""

    def _outcome(self, before: Dialog, out: Outcome, *, by: str | None = None, new: bool = False) -> None:
        d = out.dialog
        if d == before and not out.effects and not new:
            return
        self._save(d)
        self._record(before, d, out.effects)
        if any(isinstance(fx, dm.NoAnswer) for fx in out.effects):
            line = self.r.lines[d.line_id]
            st, kinds = autoreply.nobody_took_it(reply_state(d), line.templates)
            d = evolve(d, answer_due=st.answer_due, no_answer_sent=st.no_answer_sent)
            self._save(d)
            for kind in kinds:
                self._send_auto(d, line, kind)

    def _record(self, before: Dialog, d: Dialog, effects: tuple[Effect, ...]) -> None:
        """Log each effect in the dialog's event log and tell the consoles that must know."""
        r = self.r
        view = None

        def dialog_json() -> dict[str, Any]:
            nonlocal view
            if view is None:
                view = dialog_view(dialog_row(d, self.now), r.line_names)
                # the lead's own name and status go in before the batch is published (complete_leads)
                self.lead_views.setdefault(d.lead_id, []).append(view)
            return view

        line_ops = set(r.lines[d.line_id].queue)
        frame: dict[str, Any]
        for fx in effects:
            if isinstance(fx, dm.Offered):
                self.obs.offers.append(d.line_id)
                self._event(
                    d, "offered", None, {"operators": list(fx.operators), "deadline": iso(fx.deadline)}
                )
                # admins follow every dialog: an offer is theirs only when they are among `offered_to`
                self._console_dialog(
                    set(fx.operators) | r.admins,
                    {"type": "dialog.offered", "dialog_id": d.id, "dialog": dialog_json()},
                )
                log.info(ev.DIALOG_OFFERED, dialog=d.id, line=d.line_id, operators=list(fx.operators))
            elif isinstance(fx, dm.Withdrawn):
                self._event(d, "withdrawn", None, {"operators": list(fx.operators), "reason": fx.reason})
                # `operators`: whose offers are gone. Admins get every withdrawal with the dialog as it is now; an
                # operator whose offer went is not shown a dialog that is no longer theirs to see
                frame = {
                    "type": "dialog.withdrawn",
                    "dialog_id": d.id,
                    "reason": fx.reason,
                    "operators": list(fx.operators),
                }
                self._console(set(fx.operators) - r.admins, frame)
                self._console_dialog(set(r.admins), {**frame, "dialog": dialog_json()})
                self.freed = True
            elif isinstance(fx, dm.Queued):
                self._event(d, "queued", None, {"reason": fx.reason})
                self._console_dialog(
                    line_ops | r.admins, {"type": "dialog.queued", "dialog_id": d.id, "dialog": dialog_json()}
                )
                log.info(ev.DIALOG_QUEUED, dialog=d.id, line=d.line_id, reason=fx.reason)
            elif isinstance(fx, dm.Assigned):
                line = r.lines[d.line_id]
                if (
                    before.state == dm.OFFERED
                    and before.offer_deadline is not None
                    and fx.how in ("take", "reply")
                ):
                    offered_at = before.offer_deadline - line.offer_timeout
                    self.obs.takes.append((d.line_id, max((self.now - offered_at).total_seconds(), 0.0)))
                if before.queued_since is not None and fx.how in ("take", "reply"):
                    self.obs.queue_waits.append(
                        (d.line_id, max((self.now - before.queued_since).total_seconds(), 0.0))
                    )
                self._event(d, "assigned", fx.operator, {"how": fx.how, "previous": fx.previous})
                to = line_ops | r.admins | {fx.operator} | ({fx.previous} if fx.previous else set())
                frame = {
                    "type": "dialog.assigned",
                    "dialog_id": d.id,
                    "operator": fx.operator,
                    "dialog": dialog_json(),
                }
                self._console_dialog(to, frame)
                log.info(ev.DIALOG_ASSIGNED, dialog=d.id, line=d.line_id, operator=fx.operator, how=fx.how)
            elif isinstance(fx, dm.Transferred):
                data: dict[str, Any] = {
                    "by": fx.by,
                    "from": fx.from_operator,
                    "to_operator": fx.to_operator,
                    "to_line": fx.to_line,
                }
                if fx.note:
                    data["note"] = fx.note
                self._event(d, "transferred", fx.by, data)
                to = set(r.admins) | {o for o in (fx.by, fx.from_operator, fx.to_operator) if o}
                if fx.to_line:
                    to |= set(r.lines[fx.to_line].queue)
                frame = {
                    "type": "dialog.transferred",
                    "dialog_id": d.id,
                    "from_operator": fx.from_operator,
                    "to_operator": fx.to_operator,
                    "to_line": fx.to_line,
                    "by": fx.by,
                    "note": fx.note,
                    "dialog": dialog_json(),
                }
                self._console_dialog(to, frame)
                self.freed = True
                log.info(ev.DIALOG_TRANSFERRED, dialog=d.id, to_operator=fx.to_operator, to_line=fx.to_line)
            elif isinstance(fx, dm.Closed):
                self._event(d, "closed", fx.by, {})
                to = line_ops | r.admins | ({before.operator} if before.operator else set())
                self._console_dialog(
                    to, {"type": "dialog.closed", "dialog_id": d.id, "dialog": dialog_json()}
                )
                self.freed = True
                log.info(ev.DIALOG_CLOSED, dialog=d.id, line=d.line_id, by=fx.by)
            elif isinstance(fx, dm.ResponsibleChanged):
                self._event(d, "responsible", fx.operator, {})
                self.changes.lead_updates.append(
                    {"id": d.lead_id, "responsible": fx.operator, "updated_at": self.now}
                )
                # the lead's journal: the routing (no operator's hand) gave it; from whom the engine last knew
                self.changes.lead_events.append(
                    history_row(
                        d.lead_id,
                        "responsible",
                        before.preferred,
                        fx.operator,
                        by=None,
                        reason=None,
                        at=self.now,
                    )
                )
            elif isinstance(fx, dm.Reopened):
                self._event(d, "reopened", None, {})
                log.info(ev.DIALOG_REOPENED, dialog=d.id, line=d.line_id)
            elif isinstance(fx, Invited | Left):
                invited = isinstance(fx, Invited)
                kind = "invited" if invited else "left"
                data = {"guest": fx.guest, **({"replies": fx.replies} if isinstance(fx, Invited) else {})}
                self._event(d, kind, fx.by, data)
                frame = {
                    "type": f"dialog.{kind}",
                    "dialog_id": d.id,
                    "by": fx.by,
                    **data,
                    "dialog": dialog_json(),
                }
                self._console_dialog(r.watchers(d) | {fx.guest}, frame)
                log.info(
                    ev.DIALOG_INVITED if invited else ev.DIALOG_LEFT, dialog=d.id, guest=fx.guest, by=fx.by
                )
            elif isinstance(fx, dm.NoAnswer):
                self._event(d, "no_answer", None, {})
            elif isinstance(fx, dm.FirstResponse):
                self._event(d, "first_response", fx.operator, {"seconds": fx.seconds})

    def _console_dialog(self, recipients: set[str], frame: dict[str, Any]) -> None:
        """A console frame carrying a dialog view, re-encoded once its lead is filled in (complete_leads)."""
        at = len(self.published)
        self._console(recipients, frame)
        if len(self.published) > at:
            self.lead_frames.append(at)

    async def complete_leads(self) -> None:
        """Give the dialog views in the batch's frames their lead's name and status (the dialog row knows neither):
        from the leads the batch created or read, else one query for the rest."""
        if not self.lead_views:
            return
        rows: dict[str, dict[str, Any]] = {row["id"]: row for row in self.changes.leads}
        for lead_id in self.lead_views:
            known = self.leads.get(lead_id)
            if lead_id not in rows and known is not None and "status" in known:
                rows[lead_id] = known
        missing = [lead_id for lead_id in self.lead_views if lead_id not in rows]
        if missing:
            rows.update(await self.store.leads_by_id(missing))
        for lead_id, views in self.lead_views.items():
            row = rows.get(lead_id)
            if row is None:
                continue
            for view in views:
                view["lead"] = {
                    "id": lead_id,
                    "name": row.get("name") or view["lead"]["name"],
                    "status": row.get("status"),
                }
        if self.encode:
            for i in self.lead_frames:
                self.encoded[i] = dumps(self.published[i][2])
