"""Duplicate control's reads: the keys several live leads share (migration 0015's `duplicate_keys`, kept by
triggers), the leads of those keys with what ranks them, pairs marked "not duplicates", and the likely duplicates of
a lead being created. A base class of `Store`; which record is the main one is router/rules/duplicates.py's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.contacts import contact_rows, leads_with_contacts
from crm_core.models import dialogs, duplicate_keys, duplicate_skips, lead_contacts, leads, messages
from crm_core.recognition import name_key

CRITERIA = ("name", "phone", "email")
_CHUNK = 500


class Duplicates:
    """`Store`'s duplicate control (its methods are the store's own)."""

    engine: AsyncEngine
    kind: str

    async def duplicate_keys(
        self, criterion: str, *, after: str | None = None, limit: int = 20, within: str | None = None
    ) -> list[str]:
        """Up to `limit` keys (a full name's key, a phone, an e-mail) that two or more live leads share, in order
        after `after`; `within` an operator's login: only keys of the leads they are responsible for or handle."""
        if criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}")
        shared = (duplicate_keys.c.criterion == criterion) & (duplicate_keys.c.leads > 1)
        if within is None:
            q: Select[Any] = select(duplicate_keys.c.key).where(shared)
            col: Any = duplicate_keys.c.key
        else:
            mine = union(
                select(leads.c.id).where(leads.c.responsible == within, leads.c.merged_into.is_(None)),
                select(dialogs.c.lead_id).where(dialogs.c.operator == within, dialogs.c.state != "closed"),
            ).subquery()
            if criterion == "name":
                col = leads.c.name_key
                q = select(col).where(leads.c.id.in_(select(mine.c[0])), leads.c.merged_into.is_(None))
            else:
                col = lead_contacts.c.value
                q = select(col).where(
                    lead_contacts.c.kind == criterion, lead_contacts.c.lead_id.in_(select(mine.c[0]))
                )
            q = q.where(
                exists(select(duplicate_keys.c.key).where(shared, duplicate_keys.c.key == col))
            ).distinct()
        if after is not None:
            q = q.where(col > after)
        async with self.engine.connect() as conn:
            return [r[0] for r in (await conn.execute(q.order_by(col).limit(limit))).all()]

    async def duplicate_members(self, criterion: str, keys: Sequence[str]) -> list[dict[str, Any]]:
        """The live leads of these keys: each lead's row with "dup_key", its "phones" and "emails", its number of
        "dialog_count" and "message_count", and its "open_dialogs" (what access rules read)."""
        if not keys:
            return []
        if criterion == "name":
            q = select(leads, leads.c.name_key.label("dup_key")).where(leads.c.name_key.in_(list(keys)))
        else:
            q = (
                select(leads, lead_contacts.c.value.label("dup_key"))
                .join(lead_contacts, lead_contacts.c.lead_id == leads.c.id)
                .where(lead_contacts.c.kind == criterion, lead_contacts.c.value.in_(list(keys)))
            )
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(q.where(leads.c.merged_into.is_(None)))).mappings()]
            await _enrich(conn, rows)
        return rows

    async def merge_candidates(self, lead_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """These leads (live or merged) by id, each with what `duplicate_members` adds to a row."""
        async with self.engine.connect() as conn:
            q = select(leads).where(leads.c.id.in_(list(lead_ids)))
            rows = [dict(r) for r in (await conn.execute(q)).mappings()]
            await _enrich(conn, rows)
        return {r["id"]: r for r in rows}

    async def skipped_pairs(self, lead_ids: Sequence[str]) -> set[frozenset[str]]:
        """The pairs among these leads that a user marked "not duplicates"."""
        ids = sorted(set(lead_ids))
        out: set[frozenset[str]] = set()
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                part = ids[start : start + _CHUNK]
                q = select(duplicate_skips.c.lead_a, duplicate_skips.c.lead_b).where(
                    duplicate_skips.c.lead_a.in_(part)
                )
                out.update(frozenset(r) for r in (await conn.execute(q)).all())
        return out

    async def skip_duplicates(self, a: str, b: str, by: str, now: datetime) -> None:
        """Remember that two leads are not duplicates of each other (again: nothing changes)."""
        lo, hi = sorted((a, b))
        ins = postgresql.insert if self.kind == "postgresql" else sqlite.insert
        stmt = ins(duplicate_skips).values(lead_a=lo, lead_b=hi, by=by, at=now).on_conflict_do_nothing()
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def likely_duplicates(
        self, *, name: str | None, phones: Sequence[str], emails: Sequence[str], limit: int = 10
    ) -> list[dict[str, Any]]:
        """Live leads that a new record with this name and these normalised contacts would duplicate (the same full
        name, a phone or an e-mail), most recently changed first, with their contacts."""
        async with self.engine.connect() as conn:
            found = {
                r["id"]: r for r in await leads_with_contacts(conn, phones=phones, emails=emails, limit=limit)
            }
            key = name_key(name)
            if key is not None and len(found) < limit:
                q = (
                    select(leads)
                    .where(leads.c.name_key == key, leads.c.merged_into.is_(None))
                    .order_by(leads.c.updated_at.desc())
                    .limit(limit - len(found))
                )
                found.update({r["id"]: dict(r) for r in (await conn.execute(q)).mappings()})
            rows = list(found.values())
            await _enrich(conn, rows)
        return rows


async def _enrich(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Add each lead's contacts, its numbers of dialogs and messages, and its open dialogs."""
    ids = sorted({r["id"] for r in rows})
    contacts = await conn.run_sync(contact_rows, ids)
    counts: dict[str, tuple[int, int]] = {}
    open_dialogs: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        q = (
            select(dialogs.c.lead_id, func.count(func.distinct(dialogs.c.id)), func.count(messages.c.id))
            .select_from(dialogs.outerjoin(messages, messages.c.dialog_id == dialogs.c.id))
            .where(dialogs.c.lead_id.in_(part))
            .group_by(dialogs.c.lead_id)
        )
        counts.update({r[0]: (int(r[1]), int(r[2])) for r in (await conn.execute(q)).all()})
        oq = select(
            dialogs.c.id,
            dialogs.c.lead_id,
            dialogs.c.state,
            dialogs.c.operator,
            dialogs.c.offered_to,
            dialogs.c.line_id,
            dialogs.c.invited,
        ).where(dialogs.c.lead_id.in_(part), dialogs.c.state != "closed")
        for d in (await conn.execute(oq)).mappings():
            open_dialogs.setdefault(d["lead_id"], []).append(dict(d))
    for r in rows:
        r.update(contacts[r["id"]])
        r["dialog_count"], r["message_count"] = counts.get(r["id"], (0, 0))
        r["open_dialogs"] = open_dialogs.get(r["id"], [])
