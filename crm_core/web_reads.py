"""The web role's reads and its one edit: dialog summaries and transcripts, lead search and a lead's card."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.contacts import contact_rows
from crm_core.lead_history import history_of
from crm_core.lookups import dialog_list_has
from crm_core.models import dialog_events, dialogs, identities, lead_events, leads, messages
from crm_core.recognition import name_fields

_DIALOG_SUMMARY_COLS = [
    *dialogs.c,
    leads.c.name.label("lead_name"),
    leads.c.status.label("lead_status"),
    leads.c.responsible.label("lead_responsible"),
]


class WebReads:
    """`Store`'s reads and edits for the web role (a base class of `Store`: its methods are the store's own)."""

    engine: AsyncEngine
    kind: str

    async def list_dialogs(
        self,
        *,
        states: Sequence[str] | None = None,
        lines: Sequence[str] | None = None,
        operator: str | None = None,
        offered_to: str | None = None,
        invited: str | None = None,
        limit: int = 200,
        before: tuple[datetime, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Dialog summaries (with the lead's name and status), latest activity first; with `before` (the previous
        page's last row's `activity_key`) only the rows that come after it in this order. `offered_to`, `invited`:
        only the dialogs whose list of that name holds the login."""
        q = select(*_DIALOG_SUMMARY_COLS).join(leads, leads.c.id == dialogs.c.lead_id)
        if states is not None:
            q = q.where(dialogs.c.state.in_(list(states)))
        if lines is not None:
            q = q.where(dialogs.c.line_id.in_(list(lines)))
        if operator is not None:
            q = q.where(dialogs.c.operator == operator)
        if offered_to is not None:
            q = q.where(dialog_list_has(self.kind, "offered_to", offered_to))
        if invited is not None:
            q = q.where(dialog_list_has(self.kind, "invited", invited))
        activity = func.coalesce(dialogs.c.last_message_at, dialogs.c.created_at)
        if before is not None:
            at, last_id = before
            q = q.where(or_(activity < at, and_(activity == at, dialogs.c.id < last_id)))
        q = q.order_by(activity.desc(), dialogs.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    async def get_dialogs(self, dialog_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Dialog summaries by id, in one query (absent ones left out)."""
        if not dialog_ids:
            return {}
        q = (
            select(*_DIALOG_SUMMARY_COLS)
            .join(leads, leads.c.id == dialogs.c.lead_id)
            .where(dialogs.c.id.in_(list(dialog_ids)))
        )
        async with self.engine.connect() as conn:
            return {r["id"]: dict(r) for r in (await conn.execute(q)).mappings().all()}

    async def get_dialog(self, dialog_id: str) -> dict[str, Any] | None:
        """One dialog summary."""
        q = (
            select(*_DIALOG_SUMMARY_COLS)
            .join(leads, leads.c.id == dialogs.c.lead_id)
            .where(dialogs.c.id == dialog_id)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).mappings().first()
        return dict(row) if row else None

    async def dialog_messages(
        self, dialog_ids: Sequence[str], *, public_only: bool = False
    ) -> list[dict[str, Any]]:
        """Messages of the dialogs, oldest first."""
        q = select(messages).where(messages.c.dialog_id.in_(list(dialog_ids)))
        if public_only:
            q = q.where(messages.c.visibility == "public")
        q = q.order_by(messages.c.id)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    async def dialog_events(self, dialog_id: str) -> list[dict[str, Any]]:
        """What happened to a dialog (offered, taken, transferred, closed, auto-replies…), oldest first."""
        q = (
            select(dialog_events)
            .where(dialog_events.c.dialog_id == dialog_id)
            .order_by(dialog_events.c.at, dialog_events.c.id)
        )
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    async def latest_dialog(self, channel: str, account: str, external_id: str) -> dict[str, Any] | None:
        """The newest dialog of a channel identity (open or closed), or None for a new customer."""
        q = (
            select(dialogs)
            .join(identities, identities.c.id == dialogs.c.identity_id)
            .where(
                identities.c.channel == channel,
                identities.c.account == account,
                identities.c.external_id == external_id,
            )
            .order_by(dialogs.c.created_at.desc(), dialogs.c.id.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).mappings().first()
        return dict(row) if row else None

    async def get_lead(self, lead_id: str) -> dict[str, Any] | None:
        """A lead with its phones and e-mails, its identities and every dialog with its transcript."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(leads).where(leads.c.id == lead_id))).mappings().first()
            if row is None:
                return None
            lead = dict(row)
            lead.update((await conn.run_sync(contact_rows, [lead_id]))[lead_id])
            lead["identities"] = [
                dict(r)
                for r in (
                    await conn.execute(
                        select(identities).where(identities.c.lead_id == lead_id).order_by(identities.c.id)
                    )
                ).mappings()
            ]
            q = (
                select(*_DIALOG_SUMMARY_COLS)
                .join(leads, leads.c.id == dialogs.c.lead_id)
                .where(dialogs.c.lead_id == lead_id)
                .order_by(dialogs.c.created_at.desc(), dialogs.c.id.desc())
            )
            lead["dialogs"] = [dict(r) for r in (await conn.execute(q)).mappings()]
            await conn.run_sync(with_transcripts, lead["dialogs"])
            hq = (
                select(lead_events)
                .where(lead_events.c.lead_id == lead_id)
                .order_by(lead_events.c.at.desc(), lead_events.c.id.desc())
                .limit(200)
            )
            lead["history"] = [dict(r) for r in (await conn.execute(hq)).mappings()]
        return lead

    async def update_lead(
        self,
        lead_id: str,
        fields: dict[str, Any],
        now: datetime,
        *,
        by: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Change a lead's editable fields, journaling a change of its status or responsible (`by` whom, the
        words of a rejection in `reason`); False if there is no such lead."""
        if "name" in fields:
            fields = {**fields, **name_fields(fields["name"])}
        async with self.engine.begin() as conn:
            q = select(leads.c.status, leads.c.responsible).where(leads.c.id == lead_id)
            before = (await conn.execute(q)).first()
            if before is None:
                return False
            await conn.execute(update(leads).where(leads.c.id == lead_id).values(**fields, updated_at=now))
            journal = history_of(lead_id, before._asdict(), fields, by=by, at=now, reason=reason)
            if journal:
                await conn.execute(insert(lead_events), journal)
        return True


def with_transcripts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Give each dialog row its messages, in order (`transcript`), in one query."""
    transcript: dict[str, list[dict[str, Any]]] = {d["id"]: [] for d in rows}
    if transcript:
        mq = select(messages).where(messages.c.dialog_id.in_(list(transcript))).order_by(messages.c.id)
        for m in conn.execute(mq).mappings():
            transcript[m["dialog_id"]].append(dict(m))
    for d in rows:
        d["transcript"] = transcript[d["id"]]


def activity_key(row: dict[str, Any]) -> tuple[datetime, str]:
    """A `list_dialogs` row's place in the list's order (for `before`)."""
    return (row["last_message_at"] or row["created_at"], row["id"])
