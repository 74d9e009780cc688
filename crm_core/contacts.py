"""A lead's phones and e-mails (several of each, with a comment), and finding leads by one. A base class of `Store`.

The first phone and e-mail (position 0) are also the lead's own `phone` and `email` (its lists, exports and the
channels read those); migration 0015's triggers add a value written there by any other path (the engine's batches,
the bulk import) to `lead_contacts`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.ids import new_id
from crm_core.models import lead_contacts, leads
from crm_core.recognition import name_fields, normalize_email, normalize_phone

LIST_OF = {"phone": "phones", "email": "emails"}
NORMALIZE = {"phone": normalize_phone, "email": normalize_email}


def contact_rows(conn: Connection, lead_ids: Sequence[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The contacts of these leads in their order: {lead_id: {"phones": [...], "emails": [...]}}, each item
    `{"value", "comment"}` (on a sync connection, inside a transaction of the caller's)."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {i: {"phones": [], "emails": []} for i in lead_ids}
    for start in range(0, len(lead_ids), 500):
        q = (
            select(lead_contacts)
            .where(lead_contacts.c.lead_id.in_(lead_ids[start : start + 500]))
            .order_by(lead_contacts.c.lead_id, lead_contacts.c.position, lead_contacts.c.value)
        )
        for r in conn.execute(q).mappings():
            out[r["lead_id"]][LIST_OF[r["kind"]]].append({"value": r["value"], "comment": r["comment"]})
    return out


def write_contacts(
    conn: Connection, lead_id: str, kind: str, items: Sequence[dict[str, Any]], now: datetime | None
) -> None:
    """Replace the lead's contacts of a kind with these normalised items, and its own field with the first."""
    conn.execute(
        delete(lead_contacts).where(lead_contacts.c.lead_id == lead_id, lead_contacts.c.kind == kind)
    )
    if items:
        conn.execute(
            insert(lead_contacts),
            [
                {
                    "lead_id": lead_id,
                    "kind": kind,
                    "value": it["value"],
                    "comment": it.get("comment") or "",
                    "position": i,
                }
                for i, it in enumerate(items)
            ],
        )
    values: dict[str, Any] = {kind: items[0]["value"] if items else None}
    if now is not None:
        values["updated_at"] = now
    conn.execute(update(leads).where(leads.c.id == lead_id).values(**values))


def clean_contacts(kind: str, raw: Iterable[Any]) -> list[dict[str, str]]:
    """A list of contacts as a client sends it (strings or `{"value", "comment"}`), normalised and without
    repeats; raises ValueError naming the first value that is not a phone (e-mail)."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in raw:
        value, comment = (
            (item, "") if isinstance(item, str) else (item.get("value"), item.get("comment") or "")
        )
        norm = NORMALIZE[kind](value) if isinstance(value, str) else None
        if norm is None or not isinstance(comment, str):
            raise ValueError(f"{value!r} is not a valid {kind}")
        if norm not in seen:
            seen.add(norm)
            out.append({"value": norm, "comment": " ".join(comment.split())[:200]})
    return out


class Contacts:
    """`Store`'s lead contacts (its methods are the store's own)."""

    engine: AsyncEngine

    async def lead_contacts(self, lead_ids: Sequence[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """The phones and e-mails of these leads (see `contact_rows`)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(contact_rows, list(lead_ids))

    async def set_contacts(
        self,
        lead_id: str,
        *,
        phones: Sequence[dict[str, Any]] | None,
        emails: Sequence[dict[str, Any]] | None,
        now: datetime,
    ) -> None:
        """Replace the lead's phones and/or e-mails (None: leave that kind) with normalised items, in order."""
        async with self.engine.begin() as conn:
            for kind, items in (("phone", phones), ("email", emails)):
                if items is not None:
                    await conn.run_sync(write_contacts, lead_id, kind, list(items), now)

    async def create_lead(
        self,
        fields: dict[str, Any],
        *,
        phones: Sequence[dict[str, Any]],
        emails: Sequence[dict[str, Any]],
        now: datetime,
    ) -> str:
        """A lead made by hand (name, status, responsible, source) with these normalised contacts; its id."""
        lead_id = new_id()
        row = {**fields, **name_fields(fields.get("name"))}
        async with self.engine.begin() as conn:
            await conn.execute(insert(leads).values(id=lead_id, **row, created_at=now, updated_at=now))
            for kind, items in (("phone", phones), ("email", emails)):
                if items:
                    await conn.run_sync(write_contacts, lead_id, kind, list(items), None)
        return lead_id

    async def find_leads_by_contact(
        self, *, phone: str | None = None, email: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Live leads with this phone or e-mail among their contacts once normalised (ix_lead_contacts_value),
        most recently updated first; a value that does not normalise matches nothing."""
        async with self.engine.connect() as conn:
            return await leads_with_contacts(
                conn,
                phones=[p] if (p := normalize_phone(phone)) else [],
                emails=[e] if (e := normalize_email(email)) else [],
                limit=limit,
            )


async def leads_with_contacts(
    conn: AsyncConnection, *, phones: Sequence[str], emails: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    """Live leads having one of these normalised phones or e-mails, most recently updated first."""
    conditions = [
        (lead_contacts.c.kind == kind) & lead_contacts.c.value.in_(list(values))
        for kind, values in (("phone", phones), ("email", emails))
        if values
    ]
    if not conditions:
        return []
    ids = select(lead_contacts.c.lead_id).where(or_(*conditions))
    q = (
        select(leads)
        .where(leads.c.id.in_(ids), leads.c.merged_into.is_(None))
        .order_by(leads.c.updated_at.desc(), leads.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(q)).mappings().all()]
