"""A lead's conversion into a contact (with a company) and a deal, and the contacts and companies themselves. A base
class of `Store`. The lead stays the customer's record (its identities, dialogs and transcripts do not move): it is
marked with the won status the router names and links to its contact and deals; its dialogs join the new deal's
timeline, and the deal becomes the one the customer's later conversations join."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.contacts import contact_rows
from crm_core.deal_models import companies, contacts, deals
from crm_core.deals import contact_for, deal_row, insert_deal
from crm_core.ids import new_id
from crm_core.lead_history import history_row
from crm_core.models import dialogs, lead_events, leads
from crm_core.recognition import fold, one_line


class ConversionRefused(Exception):
    """A conversion that cannot be done: a code and a readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Conversion:
    """Conversion, contacts and companies (needs `self.engine`)."""

    engine: AsyncEngine

    async def convert_lead(
        self,
        lead_id: str,
        *,
        status: str,
        deal: dict[str, Any] | None,
        company: str | None,
        by: str,
        now: datetime,
    ) -> dict[str, str | None]:
        """Convert a live lead: its contact (made, or the one it has), a company by that name (found or made), and a
        deal made of `deal` (None: no deal); the lead's status set to `status`, journaled. {contact, company, deal}."""
        async with self.engine.begin() as conn:
            return await conn.run_sync(_convert, lead_id, status, deal, company, by, now)

    async def get_contact(self, contact_id: str) -> dict[str, Any] | None:
        """A contact with the customer's name, phones and e-mails, its company and deals."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(contacts).where(contacts.c.id == contact_id))).mappings().first()
            if row is None:
                return None
            contact = dict(row)
            lead = (
                (await conn.execute(select(leads).where(leads.c.id == contact["lead_id"]))).mappings().first()
            )
            contact["customer"] = dict(lead) if lead else {}
            contact["customer"].update(
                (await conn.run_sync(contact_rows, [contact["lead_id"]]))[contact["lead_id"]]
            )
            company = None
            if contact["company_id"]:
                q = select(companies).where(companies.c.id == contact["company_id"])
                company = (await conn.execute(q)).mappings().first()
            contact["company"] = dict(company) if company else None
            dq = (
                select(deals)
                .where(deals.c.contact_id == contact_id)
                .order_by(deals.c.created_at.desc())
                .limit(100)
            )
            contact["deals"] = [dict(r) for r in (await conn.execute(dq)).mappings()]
        return contact

    async def contact_of_lead(self, lead_id: str) -> str | None:
        """The contact a lead was converted into, if any."""
        async with self.engine.connect() as conn:
            return (await conn.execute(select(contacts.c.id).where(contacts.c.lead_id == lead_id))).scalar()

    async def update_contact(
        self, contact_id: str, values: dict[str, Any], *, company: str | None, now: datetime
    ) -> bool:
        """Set a contact's custom fields or responsible, and its company by name ("": none; None: unchanged)."""
        async with self.engine.begin() as conn:
            values = dict(values)
            if company is not None:
                values["company_id"] = await conn.run_sync(_company_named, company, now) if company else None
            done = await conn.execute(
                update(contacts).where(contacts.c.id == contact_id).values(**values, updated_at=now)
            )
            return bool(done.rowcount)

    async def find_companies(self, query: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Companies whose name starts with the query (the card's company field)."""
        q = select(companies).where(companies.c.name_search.startswith(fold(query), autoescape=True))
        async with self.engine.connect() as conn:
            rows = await conn.execute(q.order_by(companies.c.name_search, companies.c.id).limit(limit))
            return [dict(r) for r in rows.mappings()]


def _company_named(conn: Connection, name: str, now: datetime) -> str:
    """The company of this name (compared as searches compare), made when there is none."""
    clean = one_line(name)[:200]
    found = conn.execute(
        select(companies.c.id).where(companies.c.name_search == fold(clean)).limit(1)
    ).scalar()
    if found is not None:
        return str(found)
    company_id = new_id()
    conn.execute(
        insert(companies),
        [{"id": company_id, "name": clean, "name_search": fold(clean), "created_at": now, "updated_at": now}],
    )
    return company_id


def _convert(
    conn: Connection,
    lead_id: str,
    status: str,
    deal: dict[str, Any] | None,
    company: str | None,
    by: str,
    now: datetime,
) -> dict[str, str | None]:
    lead = conn.execute(select(leads).where(leads.c.id == lead_id)).mappings().first()
    if lead is None:
        raise ConversionRefused("not_found", "no such lead")
    if lead["merged_into"]:
        raise ConversionRefused("merged_already", "this lead was merged into another: convert that one")
    contact_id = contact_for(conn, lead_id, lead["responsible"], now)
    company_id = _company_named(conn, company, now) if company else None
    if company_id is not None:
        conn.execute(
            update(contacts).where(contacts.c.id == contact_id).values(company_id=company_id, updated_at=now)
        )
    # the customer's deals made before they had a contact are the contact's
    conn.execute(
        update(deals)
        .where(deals.c.lead_id == lead_id, deals.c.contact_id.is_(None))
        .values(contact_id=contact_id, **({"company_id": company_id} if company_id else {}))
    )
    deal_id: str | None = None
    if deal is not None:
        open_key = deal.get("open_key")
        if (
            open_key is not None
            and conn.execute(select(deals.c.id).where(deals.c.open_key == open_key)).first()
        ):
            deal = {**deal, "open_key": None}  # the customer has an open deal in that pipeline already
        row = deal_row(
            {
                **deal,
                "lead_id": lead_id,
                "contact_id": contact_id,
                "company_id": company_id,
                "responsible": deal.get("responsible", lead["responsible"]),
            },
            now,
        )
        dialog_ids = [
            r[0]
            for r in conn.execute(
                select(dialogs.c.id).where(dialogs.c.lead_id == lead_id).order_by(dialogs.c.created_at)
            )
        ]
        insert_deal(conn, row, by, dialog_ids)
        deal_id = str(row["id"])
    if lead["status"] != status:
        conn.execute(update(leads).where(leads.c.id == lead_id).values(status=status, updated_at=now))
        conn.execute(
            insert(lead_events),
            [history_row(lead_id, "status", lead["status"], status, by=by, reason="converted", at=now)],
        )
    return {"contact": contact_id, "company": company_id, "deal": deal_id}
