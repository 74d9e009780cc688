"""Deals and contacts as lists to work from (filtered, sorted, keyset pages), the deals' board by stage, the
responsible changed for many deals at once, and saved list filters. A base class of `Store`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.deal_models import companies, contacts, deal_dialogs, deal_events, deals, saved_filters
from crm_core.deals import event_row
from crm_core.field_filters import FieldTest, field_clause, like_pattern
from crm_core.ids import new_id
from crm_core.keyset import keyset, null_tail
from crm_core.lead_lists import NOBODY, words_clause
from crm_core.models import dialogs, lead_contacts, leads
from crm_core.recognition import fold

DEAL_SORTS = {
    "updated": deals.c.updated_at,
    "created": deals.c.created_at,
    "amount": deals.c.amount,
    "title": deals.c.title_search,
    "activity": deals.c.activity_at,
}
CONTACT_SORTS = {"updated": contacts.c.updated_at, "created": contacts.c.created_at}


@dataclass(frozen=True, slots=True)
class DealFilter:
    """What a list of deals shows: every field optional."""

    pipeline: str | None = None
    stages: tuple[str, ...] = ()
    state: str | None = None  # open | won | lost
    responsible: str | None = None  # a login, or NOBODY
    line: str | None = None
    source: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    changed_from: datetime | None = None
    changed_to: datetime | None = None
    stale_before: datetime | None = None  # open deals with no activity since (reminders)
    query: str = (
        ""  # the title or the customer's name, phone or e-mail contains it (the query joins the lead)
    )
    fields: tuple[FieldTest, ...] = ()
    lead: str | None = None  # the customer's
    channel: str | None = None  # deals with a dialog in that channel


def _deal_conditions(f: DealFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.pipeline is not None:
        out.append(deals.c.pipeline == f.pipeline)
    if f.stages:
        out.append(deals.c.stage.in_(list(f.stages)))
    if f.state == "open":
        out.append(deals.c.closed_at.is_(None))
    elif f.state in ("won", "lost"):
        out.append(deals.c.won.is_(f.state == "won"))
    if f.responsible == NOBODY:
        out.append(deals.c.responsible.is_(None))
    elif f.responsible is not None:
        out.append(deals.c.responsible == f.responsible)
    for col, value in ((deals.c.line_id, f.line), (deals.c.source, f.source), (deals.c.lead_id, f.lead)):
        if value is not None:
            out.append(col == value)
    for col, lo, hi in (
        (deals.c.created_at, f.created_from, f.created_to),
        (deals.c.updated_at, f.changed_from, f.changed_to),
    ):
        if lo is not None:
            out.append(col >= lo)
        if hi is not None:
            out.append(col < hi)
    if f.stale_before is not None:
        out += [deals.c.closed_at.is_(None), deals.c.activity_at < f.stale_before]
    folded = fold(f.query.strip())
    if folded:
        like = like_pattern(folded)
        # the deal's own customer, row by row (the list joins its lead): their name on the joined row, their
        # phones and e-mails by a probe that stops at the first (a scalar subquery with LIMIT: PostgreSQL would
        # turn an EXISTS in an OR into a hash of every customer that matches, a scan of them all per page)
        contact = (
            select(literal(1))
            .where(lead_contacts.c.lead_id == deals.c.lead_id, lead_contacts.c.value.like(like, escape="\\"))
            .limit(1)
            .scalar_subquery()
        )
        out.append(
            or_(
                deals.c.title_search.like(like, escape="\\"),
                leads.c.name_search.like(like, escape="\\"),
                contact.is_not(None),
            )
        )
    if f.channel is not None:
        talked = select(deal_dialogs.c.deal_id).join(dialogs, dialogs.c.id == deal_dialogs.c.dialog_id)
        out.append(deals.c.id.in_(talked.where(dialogs.c.channel == f.channel)))
    out += [field_clause(deals.c.fields, t) for t in f.fields]
    return out


class DealLists:
    """`Store`'s lists of deals and contacts (needs `self.engine`)."""

    engine: AsyncEngine

    async def list_deals(
        self,
        f: DealFilter,
        *,
        sort: str = "updated",
        descending: bool = True,
        after: tuple[Any, str] | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """A page of the deals that match, each with its customer's name, in the sort's order (ties by id)."""
        base = (
            select(deals, leads.c.name.label("customer_name"))
            .join(leads, leads.c.id == deals.c.lead_id)
            .where(*_deal_conditions(f))
        )
        col = DEAL_SORTS[sort]
        rows: list[dict[str, Any]] = []
        async with self.engine.connect() as conn:
            # a deal without an amount comes after every other in the amount's order, on both stores alike
            in_tail = sort == "amount" and after is not None and after[0] is None
            if not in_tail:
                q = base.where(col.is_not(None)) if sort == "amount" else base
                page = keyset(q, col, deals.c.id, after=after, descending=descending, limit=limit)
                rows = [dict(r) for r in (await conn.execute(page)).mappings()]
            if sort == "amount" and len(rows) < limit:
                last = after[1] if in_tail and after is not None else None
                tail = null_tail(
                    base, col, deals.c.id, after=last, descending=descending, limit=limit - len(rows)
                )
                rows += [dict(r) for r in (await conn.execute(tail)).mappings()]
        return rows

    async def export_deals(self, f: DealFilter, *, page: int = 2_000) -> AsyncIterator[list[dict[str, Any]]]:
        """The deals a list with this filter shows, oldest first, a page at a time: memory stays flat."""
        after: tuple[Any, str] | None = None
        while rows := await self.list_deals(f, sort="created", descending=False, after=after, limit=page):
            yield rows
            after = (rows[-1]["created_at"], rows[-1]["id"])

    async def deal_board(
        self, f: DealFilter, stages: Sequence[str], *, per_stage: int = 30
    ) -> dict[str, Any]:
        """The kanban of a pipeline: per stage its count, sum of amounts and most recently changed deals."""
        out: dict[str, Any] = {}
        async with self.engine.connect() as conn:
            counted = select(deals.c.stage, func.count(), func.sum(deals.c.amount))
            if f.query.strip():  # the words look at the customer's name: their lead joined
                counted = counted.join_from(deals, leads, leads.c.id == deals.c.lead_id)
            totals = await conn.execute(
                counted.where(*_deal_conditions(f), deals.c.stage.in_(list(stages))).group_by(deals.c.stage)
            )
            counts = {r[0]: (int(r[1]), int(r[2] or 0)) for r in totals}
            for stage in stages:
                q = keyset(
                    select(deals, leads.c.name.label("customer_name"))
                    .join(leads, leads.c.id == deals.c.lead_id)
                    .where(*_deal_conditions(f), deals.c.stage == stage),
                    deals.c.updated_at,
                    deals.c.id,
                    after=None,
                    descending=True,
                    limit=per_stage,
                )
                count, amount = counts.get(stage, (0, 0))
                rows = [dict(r) for r in (await conn.execute(q)).mappings()] if count else []
                out[stage] = {"count": count, "amount": amount, "deals": rows}
        return out

    async def hand_over_deals(
        self, deal_ids: Sequence[str], responsible: str | None, *, by: str, now: datetime
    ) -> list[str]:
        """Give these deals to another responsible at once, each change on the deal's timeline; the ids changed."""
        ids = sorted(set(deal_ids))
        changed: list[str] = []
        async with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                q = select(deals.c.id, deals.c.responsible).where(deals.c.id.in_(ids[start : start + 500]))
                rows = [r for r in (await conn.execute(q)).all() if r.responsible != responsible]
                if not rows:
                    continue
                await conn.execute(
                    update(deals)
                    .where(deals.c.id.in_([r.id for r in rows]))
                    .values(responsible=responsible, updated_at=now, activity_at=now)
                )
                await conn.execute(
                    insert(deal_events),
                    [event_row(r.id, "responsible", r.responsible, responsible, by=by, at=now) for r in rows],
                )
                changed += [r.id for r in rows]
        return changed

    async def list_contacts(
        self,
        *,
        query: str = "",
        responsible: str | None = None,
        fields: tuple[FieldTest, ...] = (),
        sort: str = "updated",
        descending: bool = True,
        after: tuple[Any, str] | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """A page of contacts, each with the customer's name, first phone and e-mail, and the company's name."""
        conditions: list[ColumnElement[bool]] = [field_clause(contacts.c.fields, t) for t in fields]
        if responsible == NOBODY:
            conditions.append(contacts.c.responsible.is_(None))
        elif responsible is not None:
            conditions.append(contacts.c.responsible == responsible)
        if (words := words_clause(query)) is not None:
            conditions.append(contacts.c.lead_id.in_(select(leads.c.id).where(words)))
        q = keyset(
            select(
                contacts, leads.c.name, leads.c.phone, leads.c.email, companies.c.name.label("company_name")
            )
            .join(leads, leads.c.id == contacts.c.lead_id)
            .outerjoin(companies, companies.c.id == contacts.c.company_id)
            .where(*conditions),
            CONTACT_SORTS[sort],
            contacts.c.id,
            after=after,
            descending=descending,
            limit=limit,
        )
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def export_contacts(self, **filters: Any) -> AsyncIterator[list[dict[str, Any]]]:
        """The contacts a list with these filters shows, oldest first, a page at a time."""
        after: tuple[Any, str] | None = None
        while rows := await self.list_contacts(
            **filters, sort="created", descending=False, after=after, limit=2000
        ):
            yield rows
            after = (rows[-1]["created_at"], rows[-1]["id"])

    async def saved_filters_of(self, owner: str, entity: str) -> list[dict[str, Any]]:
        """An operator's saved filters of a list, by name."""
        q = select(saved_filters).where(saved_filters.c.owner == owner, saved_filters.c.entity == entity)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q.order_by(saved_filters.c.name))).mappings()]

    async def save_filter(
        self, owner: str, entity: str, name: str, query: dict[str, Any], *, now: datetime
    ) -> str:
        """Save a list's query parameters under a name (an operator's own)."""
        filter_id = new_id()
        row = {
            "id": filter_id,
            "owner": owner,
            "entity": entity,
            "name": name,
            "query": query,
            "created_at": now,
        }
        async with self.engine.begin() as conn:
            await conn.execute(insert(saved_filters), [row])
        return filter_id

    async def delete_filter(self, owner: str, filter_id: str) -> bool:
        """Delete one of the operator's own saved filters."""
        q = delete(saved_filters).where(saved_filters.c.id == filter_id, saved_filters.c.owner == owner)
        async with self.engine.begin() as conn:
            return bool((await conn.execute(q)).rowcount)
