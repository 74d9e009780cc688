"""Importing leads from a file's checked rows (crm_core/csv_leads.py) with duplicate control, and reading leads out
for an export, a page at a time. A base class of `Store`.

A row is a duplicate when a live lead (or a row earlier in the file) has one of its e-mails or phones, or, for a row
with neither, its full name. Such a row is skipped (the default: importing a file again creates nothing), fills the
lead's empty fields and adds its new phones and e-mails (`update`), or is created anyway (`create`). A dry run
decides every row the same way and writes nothing. One transaction per chunk of rows."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.contacts import contact_rows
from crm_core.csv_leads import LeadRow, Rejected
from crm_core.ids import new_id
from crm_core.lead_bulk import write_new_leads
from crm_core.models import lead_contacts, leads
from crm_core.recognition import fold, name_key

CHUNK = 5_000
IMPORT_CACHE_KIB = 131_072  # SQLite's page cache while importing
ON_DUPLICATE = ("skip", "update", "create")
LISTED = 100  # line numbers the report lists per outcome (all are counted)
_IN = 500  # values per IN list


@dataclass
class ImportReport:
    """What an import did (or, dry, would do): counts, and the first line numbers of each outcome."""

    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    lines: dict[str, list[int]] = field(
        default_factory=lambda: {k: [] for k in ("created", "updated", "unchanged", "duplicates")}
    )
    reasons: list[dict[str, Any]] = field(default_factory=list)  # the first rejected rows: {"line", "reason"}

    def note(self, outcome: str, line: int) -> None:
        """Count a row's outcome."""
        setattr(self, outcome, getattr(self, outcome) + 1)
        if len(self.lines[outcome]) < LISTED:
            self.lines[outcome].append(line)

    def refuse(self, r: Rejected) -> None:
        """Count a rejected row with its reason."""
        self.rejected += 1
        if len(self.reasons) < LISTED:
            self.reasons.append({"line": r.line, "reason": r.reason})

    def view(self) -> dict[str, Any]:
        """The report as JSON."""
        return {
            "dry_run": self.dry_run,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "lines": self.lines,
            "rejected_rows": self.reasons,
        }


# a key is "KIND VALUE" in one string: a million of them in a dict are no work for the garbage collector (tuples
# are tracked, and each of its full collections walked them all: a quarter of a big import's time)
_SEP = " "


def _keys(row: LeadRow) -> list[str]:
    keys = [f"email{_SEP}{e}" for e in row.emails] + [f"phone{_SEP}{p}" for p in row.phones]
    if not keys and (k := name_key(row.name)) is not None:
        keys.append(f"name{_SEP}{k}")
    return keys


def _existing(conn: Connection, keys: set[str]) -> dict[str, str]:
    """The live lead that has each of these keys (any one of them, when several do)."""
    out: dict[str, str] = {}
    split = [k.partition(_SEP) for k in keys]
    for kind in ("phone", "email", "name"):
        values = sorted(v for k, _, v in split if k == kind)
        for start in range(0, len(values), _IN):
            part = values[start : start + _IN]
            if kind == "name":
                q = select(leads.c.name_key, leads.c.id).where(
                    leads.c.name_key.in_(part), leads.c.merged_into.is_(None)
                )
            else:
                q = (
                    select(lead_contacts.c.value, lead_contacts.c.lead_id)
                    .join(leads, leads.c.id == lead_contacts.c.lead_id)
                    .where(
                        lead_contacts.c.kind == kind,
                        lead_contacts.c.value.in_(part),
                        leads.c.merged_into.is_(None),
                    )
                )
            for value, lead_id in conn.execute(q):
                out.setdefault(f"{kind}{_SEP}{value}", lead_id)
    return out


def _import_chunk(
    conn: Connection,
    chunk: list[LeadRow],
    seen: dict[str, str],
    made: set[str],
    report: ImportReport,
    on_duplicate: str,
    status: str,
    now: datetime,
) -> None:
    """Decide a chunk's rows against the store and the rows before them, and (unless dry) write them."""
    wanted = {k for row in chunk for k in _keys(row) if k not in seen}
    found = _existing(conn, wanted) if wanted else {}
    new_leads: list[dict[str, Any]] = []
    new_contacts: list[dict[str, Any]] = []
    fills: dict[str, list[LeadRow]] = {}
    for row in chunk:
        keys = _keys(row)
        match = next((seen.get(k) or found.get(k) for k in keys if seen.get(k) or found.get(k)), None)
        if match is not None and on_duplicate != "create":
            if on_duplicate == "skip" or match in made:  # a row repeating one made by this import is left out
                report.note("duplicates", row.line)
            else:
                fills.setdefault(match, []).append(row)
            for k in keys:
                seen.setdefault(k, match)
            continue
        lead_id = new_id()
        folded = fold(row.name)
        new_leads.append(
            {
                "id": lead_id,
                "name": row.name,
                "name_search": folded,
                "name_key": name_key(row.name, folded),
                "phone": row.phones[0] if row.phones else None,
                "email": row.emails[0] if row.emails else None,
                "status": row.fields.get("status") or status,
                "responsible": row.fields.get("responsible"),
                "source": row.fields.get("source") or "import",
                "created_at": now,
                "updated_at": now,
            }
        )
        for kind, values in (("phone", row.phones), ("email", row.emails)):
            new_contacts += [
                {"lead_id": lead_id, "kind": kind, "value": v, "comment": "", "position": i}
                for i, v in enumerate(values)
            ]
        for k in keys:
            seen.setdefault(k, lead_id)
        made.add(lead_id)
        report.note("created", row.line)
    if fills:
        _fill(conn, fills, report, now)
    if not report.dry_run and new_leads:
        write_new_leads(conn, new_leads, new_contacts)


def _fill(conn: Connection, fills: dict[str, list[LeadRow]], report: ImportReport, now: datetime) -> None:
    """Duplicates in `update` mode: each lead gets the rows' phones and e-mails it lacks and its empty fields (the
    rows of one lead in their order)."""
    ids = sorted(fills)
    current = contact_rows(conn, ids)
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _IN):
        q = select(leads).where(leads.c.id.in_(ids[start : start + _IN]))
        rows.update({r["id"]: dict(r) for r in conn.execute(q).mappings()})
    for lead_id, given_rows in fills.items():
        lead = rows[lead_id]
        have = {m: [c["value"] for c in current[lead_id][m]] for m in ("phones", "emails")}
        adds: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        for row in given_rows:
            changed = False
            for kind, many, given in (("phone", "phones", row.phones), ("email", "emails", row.emails)):
                for v in given:
                    if v not in have[many]:
                        adds.append(
                            {
                                "lead_id": lead_id,
                                "kind": kind,
                                "value": v,
                                "comment": "",
                                "position": len(have[many]),
                            }
                        )
                        have[many].append(v)
                        changed = True
                        if not lead[kind]:
                            lead[kind] = values[kind] = (
                                v  # the trigger finds it among the contacts inserted first
                            )
            for f in ("responsible", "source"):
                if row.fields.get(f) and not lead[f]:
                    lead[f] = values[f] = row.fields[f]
                    changed = True
            if not lead["name"] and row.name:
                lead["name"] = row.name
                values.update(name=row.name, name_search=fold(row.name), name_key=name_key(row.name))
                changed = True
            report.note("updated" if changed else "unchanged", row.line)
        if report.dry_run or not (adds or values):
            continue
        if adds:
            conn.execute(insert(lead_contacts), adds)
        conn.execute(update(leads).where(leads.c.id == lead_id).values(**values, updated_at=now))


class LeadFiles:
    """`Store`'s lead import and export (its methods are the store's own)."""

    engine: AsyncEngine

    async def import_leads(
        self,
        rows: Iterable[LeadRow | Rejected],
        *,
        on_duplicate: str = "skip",
        dry_run: bool = False,
        status: str = "new",
        now: datetime,
        progress: Callable[[int], Any] | None = None,
        chunk_size: int = CHUNK,
    ) -> ImportReport:
        """Import checked rows (see the module); `progress(rows done)` after each chunk."""
        if on_duplicate not in ON_DUPLICATE:
            raise ValueError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}")
        report = ImportReport(dry_run)
        seen: dict[str, str] = {}
        made: set[str] = set()
        done = 0
        chunk: list[LeadRow] = []

        source = iter(rows)

        def read() -> list[LeadRow | Rejected]:
            return list(itertools.islice(source, chunk_size))

        # one connection for the whole import, with a page cache that holds the indexes it inserts into (SQLite's
        # default 2 MB made every chunk read its pages again); the next chunk is read and checked (CPU work, off
        # the event loop) while this one is written
        async with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
                await conn.commit()  # the statement began SQLAlchemy's transaction: each chunk has its own
            try:
                ahead = asyncio.ensure_future(asyncio.to_thread(read))
                while batch := await ahead:
                    ahead = asyncio.ensure_future(asyncio.to_thread(read))
                    for row in batch:
                        if isinstance(row, Rejected):
                            report.refuse(row)
                        else:
                            chunk.append(row)
                    done += len(batch)
                    if chunk:
                        async with conn.begin():
                            await conn.run_sync(
                                _import_chunk, chunk, seen, made, report, on_duplicate, status, now
                            )
                        chunk.clear()
                    if progress is not None:
                        await _maybe_await(progress(done))
                if conn.dialect.name == "sqlite" and not dry_run and report.created + report.updated:
                    # the planner's statistics of the leads (a few seconds for a million): after a big import its guesses
                    # (a filter every lead passes taken for a selective one) walked a million rows for a list
                    await conn.exec_driver_sql("PRAGMA analysis_limit=0")
                    await conn.exec_driver_sql("ANALYZE leads")
                    await conn.commit()
            finally:
                if conn.dialect.name == "sqlite":
                    await conn.exec_driver_sql(
                        "PRAGMA cache_size=-2000"
                    )  # SQLite's default: the pool keeps it
        return report

    async def export_leads(
        self,
        *,
        query: str = "",
        status: str | None = None,
        responsible: str | None = None,
        page: int = 2_000,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The live leads that match (the name, a phone or an e-mail contains `query`; a status; a responsible),
        oldest first, a page at a time, each with its phones and e-mails: memory stays flat however many."""
        q = select(leads).where(leads.c.merged_into.is_(None))
        if status is not None:
            q = q.where(leads.c.status == status)
        if responsible is not None:
            q = q.where(leads.c.responsible == responsible)
        if folded := fold(query.strip()):
            like = "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            q = q.where(
                or_(
                    leads.c.name_search.like(like, escape="\\"),
                    leads.c.id.in_(
                        select(lead_contacts.c.lead_id).where(lead_contacts.c.value.like(like, escape="\\"))
                    ),
                )
            )
        after = ""
        while True:
            async with self.engine.connect() as conn:
                got = [
                    dict(r)
                    for r in (
                        await conn.execute(q.where(leads.c.id > after).order_by(leads.c.id).limit(page))
                    ).mappings()
                ]
                if not got:
                    return
                contacts = await conn.run_sync(contact_rows, [r["id"] for r in got])
            for r in got:
                r.update(contacts[r["id"]])
            yield got
            after = got[-1]["id"]

    async def count_leads(self) -> int:
        """How many live leads there are."""
        async with self.engine.connect() as conn:
            return int(
                await conn.scalar(
                    select(func.count()).select_from(leads).where(leads.c.merged_into.is_(None))
                )
                or 0
            )


async def _maybe_await(value: Any) -> None:
    if hasattr(value, "__await__"):
        await value
