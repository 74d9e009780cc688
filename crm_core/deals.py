"""Deals: made by hand, by a conversation on a line that creates deals, or by a lead's conversion; changed with
every change of stage and responsible journaled, and their dialogs linked for the timeline. A base class of `Store`.
What a change may do (a stage's required fields, who may) is decided by the router (router/rules/deals.py); the store
writes it, refusing a write based on a deal that changed meanwhile (`updated_at` as the version)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.contacts import contact_rows
from crm_core.deal_models import companies, contacts, deal_dialogs, deal_events, deals
from crm_core.ids import new_id
from crm_core.lead_history import history_row
from crm_core.models import dialogs, lead_events, leads
from crm_core.recognition import fold
from crm_core.web_reads import with_transcripts

TIMELINE_MAX = 300  # journal rows on a deal card
DIALOGS_MAX = 50  # the latest dialogs on a deal card, each with its messages


class DealConflict(Exception):
    """The deal changed since the caller read it (or is gone): read it again."""


def event_row(
    deal_id: str,
    kind: str,
    from_value: Any,
    to_value: Any,
    *,
    by: str | None,
    at: datetime,
    text: str | None = None,
) -> dict[str, Any]:
    """One line of a deal's journal."""
    return {
        "id": new_id(),
        "deal_id": deal_id,
        "kind": kind,
        "from_value": None if from_value is None else str(from_value)[:64],
        "to_value": None if to_value is None else str(to_value)[:64],
        "by": by,
        "text": text,
        "at": at,
    }


def open_key(lead_id: str, pipeline: str) -> str:
    """The key of the deal a returning customer's conversations join in a pipeline."""
    return f"{lead_id}:{pipeline}"


def deal_row(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A new deal's row from what the caller decided (pipeline, stage, lead_id, currency, ...)."""
    row = {
        "id": new_id(),
        "title": "",
        "amount": None,
        "contact_id": None,
        "company_id": None,
        "responsible": None,
        "line_id": None,
        "source": None,
        "request": "",
        "fields": {},
        "closed_at": None,
        "won": None,
        "open_key": None,
        **values,
        "created_at": now,
        "updated_at": now,
        "activity_at": now,
    }
    row["title_search"] = fold(row["title"])
    return row


class Deals:
    """Deals and their journal (needs `self.engine`)."""

    engine: AsyncEngine

    async def create_deal(
        self, values: dict[str, Any], *, by: str | None, now: datetime, dialog_ids: Sequence[str] = ()
    ) -> str:
        """A new deal (its first journal line says who made it), linked to these dialogs."""
        row = deal_row(values, now)
        async with self.engine.begin() as conn:
            await conn.run_sync(insert_deal, row, by, list(dialog_ids))
        return str(row["id"])

    async def get_deal(self, deal_id: str) -> dict[str, Any] | None:
        """A deal with its customer (the lead's name, phones and e-mails), contact, company, dialogs and journal."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_deal_card, deal_id)

    async def update_deal(
        self, deal_id: str, fields: dict[str, Any], *, version: datetime, by: str | None, now: datetime
    ) -> None:
        """Write these fields if the deal is still as read at `version` (its `updated_at`), journaling a change of
        stage or responsible; DealConflict otherwise."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_update_deal, deal_id, fields, version, by, now)

    async def add_deal_note(self, deal_id: str, text: str, *, by: str, now: datetime) -> None:
        """A note on the deal's timeline (for colleagues; the customer never sees it)."""
        async with self.engine.begin() as conn:
            found = await conn.execute(
                update(deals).where(deals.c.id == deal_id).values(activity_at=now, updated_at=now)
            )
            if found.rowcount == 0:
                raise DealConflict(deal_id)
            await conn.execute(
                insert(deal_events), [event_row(deal_id, "note", None, None, by=by, at=now, text=text)]
            )

    async def dialogs_without_deal(
        self, line_ids: Sequence[str], *, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Open dialogs on these lines that have no deal yet (a process stopped between a dialog's commit and its
        deal): id, lead_id, line_id, customer_name, source_tag."""
        if not line_ids:
            return []
        linked = select(deal_dialogs.c.dialog_id).where(deal_dialogs.c.dialog_id == dialogs.c.id)
        q = (
            select(
                dialogs.c.id,
                dialogs.c.lead_id,
                dialogs.c.line_id,
                dialogs.c.customer_name,
                dialogs.c.source_tag,
            )
            .where(dialogs.c.line_id.in_(list(line_ids)), dialogs.c.state != "closed", ~linked.exists())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def adopt_deals(self, lead_id: str, responsible: str, *, now: datetime) -> list[str]:
        """The customer's open deals nobody owns go to the operator who now owns the customer (who took their
        dialog), each change on the deal's timeline; the ids changed."""
        async with self.engine.begin() as conn:
            q = select(deals.c.id).where(
                deals.c.lead_id == lead_id, deals.c.responsible.is_(None), deals.c.closed_at.is_(None)
            )
            ids = [r[0] for r in await conn.execute(q)]
            if ids:
                await conn.execute(
                    update(deals).where(deals.c.id.in_(ids)).values(responsible=responsible, updated_at=now)
                )
                await conn.execute(
                    insert(deal_events),
                    [event_row(i, "responsible", None, responsible, by=None, at=now) for i in ids],
                )
        return [str(i) for i in ids]

    async def join_deal(
        self, dialog_id: str, values: dict[str, Any], *, now: datetime, lead_status: str | None = None
    ) -> tuple[str, bool]:
        """A conversation on a line that creates deals: the dialog joins its customer's open deal of the pipeline
        (`values["open_key"]`), or a new deal made of `values` (its contact made for the customer when they have
        none); (deal id, whether it is new). At least once, from any process: the dialog's link and the open key
        are unique, so a second call (or a second router) finds what the first made. A customer made a contact
        here gets `lead_status` (a won one: their lead is converted)."""
        async with self.engine.begin() as conn:
            linked = (
                await conn.execute(
                    select(deal_dialogs.c.deal_id).where(deal_dialogs.c.dialog_id == dialog_id)
                )
            ).scalar()
            if linked is not None:
                return str(linked), False
            existing = (
                await conn.execute(select(deals.c.id).where(deals.c.open_key == values["open_key"]))
            ).scalar()
            if existing is None:  # an open deal of the pipeline made by hand, or reopened
                q = (
                    select(deals.c.id)
                    .where(
                        deals.c.lead_id == values["lead_id"],
                        deals.c.pipeline == values["pipeline"],
                        deals.c.closed_at.is_(None),
                    )
                    .order_by(deals.c.activity_at.desc(), deals.c.id.desc())
                    .limit(1)
                )
                existing = (await conn.execute(q)).scalar()
            if existing is not None:
                await conn.run_sync(_link_dialogs, str(existing), [dialog_id], now)
                return str(existing), False
        row = deal_row(values, now)
        try:
            async with self.engine.begin() as conn:
                if row["responsible"] is None:  # whoever owns the customer now (took their dialog)
                    q = select(leads.c.responsible).where(leads.c.id == row["lead_id"])
                    row["responsible"] = (await conn.execute(q)).scalar()
                row["contact_id"] = await conn.run_sync(contact_for, row["lead_id"], row["responsible"], now)
                if lead_status is not None:
                    await conn.run_sync(_converted, row["lead_id"], lead_status, now)
                await conn.run_sync(insert_deal, row, None, [dialog_id])
        except IntegrityError:  # another process made it first: join theirs
            return await self.join_deal(dialog_id, values, now=now, lead_status=lead_status)
        return str(row["id"]), True


def insert_deal(conn: Connection, row: dict[str, Any], by: str | None, dialog_ids: list[str]) -> None:
    conn.execute(insert(deals), [row])
    at = row["created_at"]
    conn.execute(insert(deal_events), [event_row(row["id"], "created", None, row["stage"], by=by, at=at)])
    _link_dialogs(conn, row["id"], dialog_ids, at)


def _link_dialogs(conn: Connection, deal_id: str, dialog_ids: list[str], at: datetime) -> None:
    """Link dialogs not linked yet to the deal, each on its timeline."""
    if not dialog_ids:
        return
    taken = {
        r[0]
        for r in conn.execute(
            select(deal_dialogs.c.dialog_id).where(deal_dialogs.c.dialog_id.in_(dialog_ids))
        )
    }
    new = [d for d in dict.fromkeys(dialog_ids) if d not in taken]
    if not new:
        return
    conn.execute(insert(deal_dialogs), [{"dialog_id": d, "deal_id": deal_id, "at": at} for d in new])
    conn.execute(insert(deal_events), [event_row(deal_id, "dialog", None, d, by=None, at=at) for d in new])
    conn.execute(update(deals).where(deals.c.id == deal_id).values(activity_at=at))


def contact_for(conn: Connection, lead_id: str, responsible: str | None, now: datetime) -> str:
    """The customer's contact, made when they have none (a contact rests on the lead: its name, phones, e-mails)."""
    found = conn.execute(select(contacts.c.id).where(contacts.c.lead_id == lead_id)).scalar()
    if found is not None:
        return str(found)
    contact_id = new_id()
    conn.execute(
        insert(contacts),
        [
            {
                "id": contact_id,
                "lead_id": lead_id,
                "company_id": None,
                "responsible": responsible,
                "fields": {},
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    return contact_id


def _converted(conn: Connection, lead_id: str, status: str, now: datetime) -> None:
    """The lead of a customer a conversation made a contact of takes a won status, on its history."""
    before = conn.execute(select(leads.c.status).where(leads.c.id == lead_id)).scalar()
    if before is None or before == status:
        return
    conn.execute(update(leads).where(leads.c.id == lead_id).values(status=status, updated_at=now))
    conn.execute(
        insert(lead_events),
        [history_row(lead_id, "status", before, status, by=None, reason="converted", at=now)],
    )


def _update_deal(
    conn: Connection, deal_id: str, fields: dict[str, Any], version: datetime, by: str | None, now: datetime
) -> None:
    before = conn.execute(select(deals).where(deals.c.id == deal_id)).mappings().first()
    if before is None or before["updated_at"] != version:
        raise DealConflict(deal_id)
    values = dict(fields)
    if "title" in values:
        values["title_search"] = fold(values["title"])
    if values.get("closed_at") is not None:
        values["open_key"] = None  # a closed deal: the customer's next conversation starts another
    done = conn.execute(
        update(deals)
        .where(deals.c.id == deal_id, deals.c.updated_at == version)
        .values(**values, updated_at=now, activity_at=now)
    )
    if done.rowcount == 0:
        raise DealConflict(deal_id)
    journal = [
        event_row(deal_id, kind, before[kind], values[kind], by=by, at=now)
        for kind in ("stage", "responsible")
        if kind in values and values[kind] != before[kind]
    ]
    if journal:
        conn.execute(insert(deal_events), journal)


def _deal_card(conn: Connection, deal_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(deals).where(deals.c.id == deal_id)).mappings().first()
    if row is None:
        return None
    deal = dict(row)
    lead = (
        conn.execute(
            select(leads.c.id, leads.c.name, leads.c.status, leads.c.responsible).where(
                leads.c.id == deal["lead_id"]
            )
        )
        .mappings()
        .first()
    )
    customer = (
        dict(lead) if lead else {"id": deal["lead_id"], "name": "", "status": None, "responsible": None}
    )
    customer.update(contact_rows(conn, [deal["lead_id"]])[deal["lead_id"]])
    deal["customer"] = customer
    contact = (
        conn.execute(select(contacts).where(contacts.c.id == deal["contact_id"])).mappings().first()
        if deal["contact_id"]
        else None
    )
    deal["contact"] = dict(contact) if contact else None
    company = (
        conn.execute(select(companies).where(companies.c.id == deal["company_id"])).mappings().first()
        if deal["company_id"]
        else None
    )
    deal["company"] = dict(company) if company else None
    dq = (
        select(
            dialogs.c.id,
            dialogs.c.line_id,
            dialogs.c.channel,
            dialogs.c.state,
            dialogs.c.operator,
            dialogs.c.offered_to,  # who may see the deal through its dialogs (router/rules/access.py)
            dialogs.c.invited,
            dialogs.c.created_at,
            dialogs.c.closed_at,
            dialogs.c.last_message_text,
            dialogs.c.last_message_at,
        )
        .join(deal_dialogs, deal_dialogs.c.dialog_id == dialogs.c.id)
        .where(deal_dialogs.c.deal_id == deal_id)
        .order_by(dialogs.c.created_at.desc(), dialogs.c.id.desc())
    )
    deal["dialogs"] = [dict(r) for r in conn.execute(dq.limit(DIALOGS_MAX)).mappings()]
    with_transcripts(conn, deal["dialogs"])  # the customer's every later contact in the same card
    eq = (
        select(deal_events)
        .where(deal_events.c.deal_id == deal_id)
        .order_by(deal_events.c.at.desc(), deal_events.c.id.desc())
        .limit(TIMELINE_MAX)
    )
    deal["timeline"] = [dict(r) for r in conn.execute(eq).mappings()]
    return deal
