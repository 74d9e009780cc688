"""Merging leads into a main record, journaled so an admin can undo it. A base class of `Store`.

A merge, in one transaction: the duplicates' identities and dialogs (their transcripts with them) move to the main
record, their phones and e-mails are appended to its own, the fields the caller decided (router/rules/duplicates.py)
are set, and each duplicate stays as a record marked `merged_into` (no list, search or duplicate check shows it).
The duplicates' histories of status and responsible join the main record's. The journal row keeps the records
before and every link moved. Each moved dialog's version is bumped, so a router
holding one of them open reads it again before its next write (crm_core.errors.StaleDialog).

The undo puts back what the journal names: each duplicate live again with its contacts, identities, dialogs and the
history of its status and responsible, and the dialogs its identities opened since the merge (the customer wrote to
the record their identity came from); the main record loses the contacts the merge added and gets back the fields
the merge set, unless changed since."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.contacts import LIST_OF, contact_rows, write_contacts
from crm_core.ids import new_id
from crm_core.lead_history import history_of
from crm_core.models import dialogs, identities, lead_events, lead_merges, leads
from crm_core.recognition import name_fields

_CHUNK = 500


class MergeRefused(Exception):
    """A merge or an undo that cannot be done as asked: a code and a readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _plain(row: Any) -> dict[str, Any]:
    """A row as JSON keeps it (times as ISO text)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(row).items()}


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


def _fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Lead fields as the store writes them (a name with its search forms)."""
    return {**fields, **name_fields(fields["name"])} if "name" in fields else fields


def _journal(
    conn: Connection,
    lead_id: str,
    before: dict[str, Any],
    fields: dict[str, Any],
    by: str,
    why: str,
    now: datetime,
) -> None:
    """The lead's history: the status and responsible these fields change."""
    rows = history_of(lead_id, before, fields, by=by, at=now, reason=why, reason_on=("status", "responsible"))
    if rows:
        conn.execute(insert(lead_events), rows)


def _merge(
    conn: Connection, main_id: str, dup_ids: list[str], fields: dict[str, Any], by: str, now: datetime
) -> str:
    ids = [main_id, *dup_ids]
    if len(set(ids)) != len(ids) or not dup_ids:
        raise MergeRefused("bad_merge", "name the main record and at least one other, each once")
    q = select(leads).where(leads.c.id.in_(ids))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    rows = {r["id"]: dict(r) for r in conn.execute(q).mappings()}
    for i in ids:
        if i not in rows:
            raise MergeRefused("not_found", f"no lead {i}")
        if rows[i]["merged_into"] is not None:
            raise MergeRefused("merged_already", f"lead {i} was merged into another already")
    contacts = contact_rows(conn, ids)
    record: dict[str, Any] = {"main": _plain(rows[main_id]), "duplicates": [], "added": {}, "fields": {}}
    for dup in dup_ids:
        idents = [r[0] for r in conn.execute(select(identities.c.id).where(identities.c.lead_id == dup))]
        moved = [r[0] for r in conn.execute(select(dialogs.c.id).where(dialogs.c.lead_id == dup))]
        history = [r[0] for r in conn.execute(select(lead_events.c.id).where(lead_events.c.lead_id == dup))]
        record["duplicates"].append(
            {
                "lead": _plain(rows[dup]),
                "contacts": contacts[dup],
                "identities": idents,
                "dialogs": moved,
                "history": history,
            }
        )
    conn.execute(update(identities).where(identities.c.lead_id.in_(dup_ids)).values(lead_id=main_id))
    # the duplicates' journals join the main record's timeline
    conn.execute(update(lead_events).where(lead_events.c.lead_id.in_(dup_ids)).values(lead_id=main_id))
    conn.execute(
        update(dialogs)
        .where(dialogs.c.lead_id.in_(dup_ids))
        .values(lead_id=main_id, version=dialogs.c.version + 1)
    )
    for kind, key in LIST_OF.items():
        items = list(contacts[main_id][key])
        have = {c["value"] for c in items}
        added = []
        for dup in dup_ids:
            for c in contacts[dup][key]:
                if c["value"] not in have:
                    have.add(c["value"])
                    added.append(c)
        record["added"][kind] = [c["value"] for c in added]
        for dup in dup_ids:
            write_contacts(conn, dup, kind, [], None)
        if added:
            write_contacts(conn, main_id, kind, items + added, None)
    record["fields"] = {f: [rows[main_id].get(f), v] for f, v in fields.items()}
    conn.execute(update(leads).where(leads.c.id == main_id).values(**_fields(fields), updated_at=now))
    _journal(conn, main_id, rows[main_id], fields, by, "merge", now)
    conn.execute(update(leads).where(leads.c.id.in_(dup_ids)).values(merged_into=main_id, updated_at=now))
    merge_id = new_id()
    conn.execute(insert(lead_merges).values(id=merge_id, main_id=main_id, by=by, at=now, record=record))
    return merge_id


def _undo(conn: Connection, merge_id: str, by: str, now: datetime) -> dict[str, Any]:
    q = select(lead_merges).where(lead_merges.c.id == merge_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    m = conn.execute(q).mappings().first()
    if m is None:
        raise MergeRefused("not_found", "no such merge")
    if m["undone_at"] is not None:
        raise MergeRefused("undone_already", "this merge was undone already")
    main_id, rec, at = m["main_id"], m["record"], m["at"]
    main = conn.execute(select(leads).where(leads.c.id == main_id)).mappings().first()
    if main is None or main["merged_into"] is not None:
        raise MergeRefused(
            "merged_again", "the main record was merged into another since: undo that merge first"
        )
    for dup in rec["duplicates"]:
        dup_id = dup["lead"]["id"]
        for part in _chunks(dup["identities"]):
            conn.execute(
                update(identities)
                .where(identities.c.id.in_(part), identities.c.lead_id == main_id)
                .values(lead_id=dup_id)
            )
        back = [dialogs.c.id.in_(part) for part in _chunks(dup["dialogs"])]
        since = [
            and_(dialogs.c.identity_id.in_(part), dialogs.c.created_at >= at)
            for part in _chunks(dup["identities"])
        ]
        if back or since:
            conn.execute(
                update(dialogs)
                .where(dialogs.c.lead_id == main_id, or_(*back, *since))
                .values(lead_id=dup_id, version=dialogs.c.version + 1)
            )
        for part in _chunks(dup.get("history") or []):
            conn.execute(
                update(lead_events)
                .where(lead_events.c.id.in_(part), lead_events.c.lead_id == main_id)
                .values(lead_id=dup_id)
            )
        conn.execute(update(leads).where(leads.c.id == dup_id).values(merged_into=None, updated_at=now))
    current = contact_rows(conn, [main_id])[main_id]
    for kind, key in LIST_OF.items():
        added = set(rec["added"].get(kind) or ())
        if added:
            keep = [c for c in current[key] if c["value"] not in added]
            write_contacts(conn, main_id, kind, keep, None)
    for dup in rec["duplicates"]:
        for kind, key in LIST_OF.items():
            if dup["contacts"][key]:
                write_contacts(conn, dup["lead"]["id"], kind, dup["contacts"][key], None)
    restore = {f: before for f, (before, after) in rec["fields"].items() if main[f] == after}
    conn.execute(update(leads).where(leads.c.id == main_id).values(**_fields(restore), updated_at=now))
    _journal(conn, main_id, dict(main), restore, by, "merge undone", now)
    conn.execute(update(lead_merges).where(lead_merges.c.id == merge_id).values(undone_by=by, undone_at=now))
    return {"main_id": main_id, "restored": [d["lead"]["id"] for d in rec["duplicates"]]}


class Merges:
    """`Store`'s merges and their journal (its methods are the store's own)."""

    engine: AsyncEngine

    async def merge_leads(
        self, main_id: str, duplicate_ids: Sequence[str], fields: dict[str, Any], *, by: str, now: datetime
    ) -> str:
        """Merge the duplicates into the main record, setting these of its fields; the journal entry's id.
        Raises MergeRefused (a record missing or merged already)."""
        async with self.engine.begin() as conn:
            return await conn.run_sync(_merge, main_id, list(duplicate_ids), dict(fields), by, now)

    async def undo_merge(self, merge_id: str, *, by: str, now: datetime) -> dict[str, Any]:
        """Undo a journaled merge: `{"main_id", "restored": [lead ids]}`. Raises MergeRefused."""
        async with self.engine.begin() as conn:
            return await conn.run_sync(_undo, merge_id, by, now)

    async def list_merges(self, *, before: datetime | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The merge journal, newest first."""
        q = select(lead_merges).order_by(lead_merges.c.at.desc(), lead_merges.c.id.desc()).limit(limit)
        if before is not None:
            q = q.where(lead_merges.c.at < before)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]
