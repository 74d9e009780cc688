"""The leads as a list to work from: filtered, sorted, a page at a time by keyset (the next page starts after the
last row's sort key, so page 1,000 costs what page 1 does), and the responsible changed for many at once. A base
class of `Store`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.contacts import contact_rows
from crm_core.field_filters import FieldTest, field_clause, like_pattern
from crm_core.keyset import keyset
from crm_core.lead_history import history_row
from crm_core.models import dialogs, identities, lead_contacts, lead_events, leads
from crm_core.recognition import fold

SORTS = {"updated": leads.c.updated_at, "created": leads.c.created_at, "name": leads.c.name_search}
NOBODY = ""  # the responsible filter for leads nobody owns


@dataclass(frozen=True, slots=True)
class LeadFilter:
    """What a list shows: every field optional."""

    statuses: tuple[str, ...] = ()
    responsible: str | None = None  # a login, or NOBODY
    source: str | None = None
    line: str | None = None  # leads with a dialog on that line
    channel: str | None = None  # leads with an identity in that channel
    created_from: datetime | None = None
    created_to: datetime | None = None
    changed_from: datetime | None = None
    changed_to: datetime | None = None
    query: str = ""  # the name, or a phone or e-mail, contains it
    fields: tuple[FieldTest, ...] = ()  # custom fields (crm_core/field_filters.py)


def words_clause(query: str) -> ColumnElement[bool] | None:
    """The leads whose name, or one of whose phones or e-mails, contains the words as typed (any script and case;
    `%` and `_` are themselves); None for no words."""
    folded = fold(query.strip())
    if not folded:
        return None
    like = like_pattern(folded)
    in_contacts = select(lead_contacts.c.lead_id).where(lead_contacts.c.value.like(like, escape="\\"))
    return or_(leads.c.name_search.like(like, escape="\\"), leads.c.id.in_(in_contacts))


def _conditions(f: LeadFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = [leads.c.merged_into.is_(None)]
    if f.statuses:
        out.append(leads.c.status.in_(list(f.statuses)))
    if f.responsible == NOBODY:
        out.append(leads.c.responsible.is_(None))
    elif f.responsible is not None:
        out.append(leads.c.responsible == f.responsible)
    if f.source is not None:
        out.append(leads.c.source == f.source)
    # as sets the database makes once (a channel's identities by the unique key's first column), not a probe per
    # lead: a channel none of the leads wrote from would otherwise walk every lead
    if f.line is not None:
        out.append(leads.c.id.in_(select(dialogs.c.lead_id).where(dialogs.c.line_id == f.line)))
    if f.channel is not None:
        out.append(leads.c.id.in_(select(identities.c.lead_id).where(identities.c.channel == f.channel)))
    for col, lo, hi in (
        (leads.c.created_at, f.created_from, f.created_to),
        (leads.c.updated_at, f.changed_from, f.changed_to),
    ):
        if lo is not None:
            out.append(col >= lo)
        if hi is not None:
            out.append(col < hi)
    if (words := words_clause(f.query)) is not None:
        out.append(words)
    out += [field_clause(leads.c.fields, t) for t in f.fields]
    return out


class LeadLists:
    """`Store`'s lists of leads (its methods are the store's own)."""

    engine: AsyncEngine

    async def list_leads(
        self,
        f: LeadFilter,
        *,
        sort: str = "updated",
        descending: bool = True,
        after: tuple[Any, str] | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """A page of the live leads that match, each with its phones and e-mails, in the sort's order (ties by id);
        `after`: the previous page's last (sort value, id)."""
        q = keyset(
            select(leads).where(*_conditions(f)),
            SORTS[sort],
            leads.c.id,
            after=after,
            descending=descending,
            limit=limit,
        )
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(q)).mappings()]
            contacts = await conn.run_sync(contact_rows, [r["id"] for r in rows])
        for r in rows:
            r.update(contacts[r["id"]])
        return rows

    async def search_leads(
        self, query: str = "", *, responsible: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Live leads whose name, phone or e-mail contains the query, most recently changed first (the console's
        lead search; `responsible`: only theirs)."""
        return await self.list_leads(LeadFilter(query=query, responsible=responsible), limit=limit)

    async def export_leads(self, f: LeadFilter, *, page: int = 2_000) -> AsyncIterator[list[dict[str, Any]]]:
        """The live leads a list with this filter shows, oldest first, a page at a time, each with its phones and
        e-mails: memory stays flat however many."""
        after: tuple[Any, str] | None = None
        while rows := await self.list_leads(f, sort="created", descending=False, after=after, limit=page):
            yield rows
            after = (rows[-1]["created_at"], rows[-1]["id"])

    async def hand_over(
        self, lead_ids: Sequence[str], responsible: str | None, *, by: str, now: datetime
    ) -> list[str]:
        """Give these live leads to another responsible (None: nobody) at once, each change on the lead's
        history; the ids that changed."""
        ids = sorted(set(lead_ids))
        changed: list[str] = []
        async with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                q = select(leads.c.id, leads.c.responsible).where(
                    leads.c.id.in_(part), leads.c.merged_into.is_(None)
                )
                rows = [r for r in (await conn.execute(q)).all() if r.responsible != responsible]
                if not rows:
                    continue
                await conn.execute(
                    update(leads)
                    .where(leads.c.id.in_([r.id for r in rows]))
                    .values(responsible=responsible, updated_at=now)
                )
                await conn.execute(
                    insert(lead_events),
                    [
                        history_row(
                            r.id, "responsible", r.responsible, responsible, by=by, reason=None, at=now
                        )
                        for r in rows
                    ],
                )
                changed += [r.id for r in rows]
        return changed
