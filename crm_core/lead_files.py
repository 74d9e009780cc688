"""Importing leads from a file's checked rows (crm_core/csv_leads.py) with duplicate control: the store's side (its
look-ups, the writes, the report); what each row does is crm_core/lead_import_plan.py's. A base class of `Store`.

A row is a duplicate when a live lead (or a row earlier in the file) has one of its e-mails or phones, or, for a row
with neither, its full name. Such a row is skipped (the default: importing a file again creates nothing), fills the
lead's empty fields and adds its new phones and e-mails (`update`), or is created anyway (`create`). A dry run
decides every row the same way and writes nothing. One transaction per chunk of rows."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.contacts import contact_rows
from crm_core.csv_leads import LeadRow, Rejected
from crm_core.lead_bulk import write_new_leads
from crm_core.lead_import_plan import ON_DUPLICATE, SEP, ImportState, fill_lead, keys_of, plan_chunk
from crm_core.models import lead_contacts, leads

CHUNK = 5_000
IMPORT_CACHE_KIB = 131_072  # SQLite's page cache while importing
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


def _existing(conn: Connection, keys: set[str]) -> dict[str, str]:
    """The live lead that has each of these keys (any one of them, when several do)."""
    out: dict[str, str] = {}
    split = [k.partition(SEP) for k in keys]
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
                out.setdefault(f"{kind}{SEP}{value}", lead_id)
    return out


def _import_chunk(
    conn: Connection,
    chunk: list[LeadRow],
    state: ImportState,
    report: ImportReport,
    on_duplicate: str,
    status: str,
    now: datetime,
) -> None:
    """Look up the chunk's keys the import has not met, decide its rows (crm_core/lead_import_plan.py), and
    (unless dry) write what was decided."""
    wanted = {k for row in chunk for k in keys_of(row) if k not in state.seen}
    plan = plan_chunk(
        chunk,
        _existing(conn, wanted) if wanted else {},
        state,
        on_duplicate=on_duplicate,
        status=status,
        now=now,
    )
    for outcome, line in plan.outcomes:
        report.note(outcome, line)
    if plan.fills:
        _fill(conn, plan.fills, report, now)
    if not report.dry_run and plan.new_leads:
        write_new_leads(conn, plan.new_leads, plan.new_contacts)


def _fill(conn: Connection, fills: dict[str, list[LeadRow]], report: ImportReport, now: datetime) -> None:
    """Duplicates in `update` mode: read the leads and their contacts, and write what `fill_lead` says."""
    ids = sorted(fills)
    current = contact_rows(conn, ids)
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _IN):
        q = select(leads).where(leads.c.id.in_(ids[start : start + _IN]))
        rows.update({r["id"]: dict(r) for r in conn.execute(q).mappings()})
    for lead_id, given in fills.items():
        have = {m: [c["value"] for c in current[lead_id][m]] for m in ("phones", "emails")}
        fill = fill_lead(rows[lead_id], have, given)
        for outcome, line in fill.outcomes:
            report.note(outcome, line)
        if report.dry_run or not (fill.adds or fill.values):
            continue
        if fill.adds:  # first: a phone or e-mail set below finds its row there (migration 0015's trigger)
            conn.execute(insert(lead_contacts), fill.adds)
        conn.execute(update(leads).where(leads.c.id == lead_id).values(**fill.values, updated_at=now))


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
        state = ImportState()
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
                                _import_chunk, chunk, state, report, on_duplicate, status, now
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


async def _maybe_await(value: Any) -> None:
    if hasattr(value, "__await__"):
        await value
