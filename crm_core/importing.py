"""Bulk import of contacts (the CSV import path, `Store.import_contacts`): a lead and its channel identity per
row, one transaction per chunk, the rows whose identity is stored already skipped."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core import sqlite_batch
from crm_core.changes import Changes
from crm_core.ids import new_id
from crm_core.lead_bulk import first_contacts, triggers_aside
from crm_core.lookups import Key
from crm_core.models import identities, leads
from crm_core.recognition import name_fields, normalize_email, normalize_phone


async def import_contacts(
    engine: AsyncEngine,
    writer: sqlite_batch.SqliteWriter | None,
    rows: Iterable[dict[str, Any]],
    *,
    status: str,
    source: str | None,
    chunk_size: int,
    now: datetime | None,
) -> int:
    """The rows in chunks of `chunk_size`, through the SQLite batch writer if there is one, else `engine`; returns
    the leads created (`Store.import_contacts` tells what a row is and what is skipped)."""
    ts = now or datetime.now(UTC)
    source_rows = iter(rows)
    total = 0
    while chunk := list(itertools.islice(source_rows, max(1, chunk_size))):
        for attempt in range(3):  # a chunk a concurrent writer collided with is looked up and planned again
            try:
                # a SQLite file: the batch writer's connection and thread, no SQLAlchemy per row
                if writer is not None:
                    plans = writer.plans
                    total += await writer.transaction(_import_chunk_sqlite, plans, chunk, status, source, ts)
                else:
                    async with engine.begin() as conn:
                        total += await conn.run_sync(_import_chunk_sync, chunk, status, source, ts)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
    return total


def _import_plan(chunk: list[dict[str, Any]]) -> tuple[list[tuple[dict[str, Any], Key | None]], list[Key]]:
    """An import chunk's rows with their identity keys, the same identity's later rows in the chunk left out; and
    the keys to look up."""
    planned: list[tuple[dict[str, Any], Key | None]] = []
    keys: list[Key] = []
    chunk_keys: set[Key] = set()
    for row in chunk:
        ident = row.get("identity")
        key: Key | None = None
        if ident:
            key = (str(ident["channel"]), str(ident["account"]), str(ident["external_id"]))
            if key in chunk_keys:
                continue  # the same identity earlier in this chunk (earlier chunks are stored)
            chunk_keys.add(key)
            keys.append(key)
        planned.append((row, key))
    return planned, keys


def _stored_keys(keys: list[Key], stored: Callable[[str, str, list[str]], Iterable[str]]) -> set[Key]:
    """Which of `keys` are stored already, asking `stored(channel, account, external_ids)` 500 ids at a time."""
    by_account: dict[tuple[str, str], list[str]] = {}
    for channel, account, external_id in keys:
        by_account.setdefault((channel, account), []).append(external_id)
    found: set[Key] = set()
    for (channel, account), external_ids in by_account.items():
        for i in range(0, len(external_ids), 500):
            found.update((channel, account, x) for x in stored(channel, account, external_ids[i : i + 500]))
    return found


def _import_rows(
    planned: list[tuple[dict[str, Any], Key | None]],
    existing: set[Key],
    status: str,
    source: str | None,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The lead and identity rows of an import chunk, skipping the rows whose identity is stored already."""
    lead_rows: list[dict[str, Any]] = []
    identity_rows: list[dict[str, Any]] = []
    for row, key in planned:
        if key is not None and key in existing:
            continue
        lead_id = new_id()
        names = name_fields(str(row.get("name") or ""))
        name = names["name"]
        lead_rows.append(
            {
                "id": lead_id,
                **names,
                "phone": normalize_phone(row.get("phone")),
                "email": normalize_email(row.get("email")),
                "status": str(row.get("status") or status),
                "responsible": None,
                "source": source,
                "created_at": now,
                "updated_at": now,
            }
        )
        if key is not None:
            ident = row["identity"]
            identity_rows.append(
                {
                    "id": new_id(),
                    "lead_id": lead_id,
                    "channel": key[0],
                    "account": key[1],
                    "external_id": key[2],
                    "display_name": str(ident.get("display_name") or name),
                    "profile": {},
                    "created_at": now,
                }
            )
    return lead_rows, identity_rows


def _import_chunk_sync(
    conn: Connection,
    chunk: list[dict[str, Any]],
    status: str,
    source: str | None,
    now: datetime,
) -> int:
    """One import chunk through SQLAlchemy (in run_sync): skip known identities, insert leads then identities."""
    planned, keys = _import_plan(chunk)
    t = identities

    def stored(channel: str, account: str, external_ids: list[str]) -> Iterable[str]:
        q = select(t.c.external_id).where(
            t.c.channel == channel, t.c.account == account, t.c.external_id.in_(external_ids)
        )
        return conn.execute(q).scalars()

    lead_rows, identity_rows = _import_rows(planned, _stored_keys(keys, stored), status, source, now)
    if lead_rows:
        conn.execute(insert(leads), lead_rows)
    if identity_rows:
        conn.execute(insert(identities), identity_rows)
    return len(lead_rows)


def _import_chunk_sqlite(
    db: sqlite3.Connection,
    plans: sqlite_batch.Plans,
    chunk: list[dict[str, Any]],
    status: str,
    source: str | None,
    now: datetime,
) -> int:
    """One import chunk in the SQLite writer's transaction: the same lookup and rows as `_import_chunk_sync`."""
    planned, keys = _import_plan(chunk)

    def stored(channel: str, account: str, external_ids: list[str]) -> Iterable[str]:
        sql = (
            "SELECT external_id FROM identities WHERE channel = ? AND account = ? "
            f"AND external_id IN ({', '.join('?' * len(external_ids))})"
        )
        return (x for (x,) in db.execute(sql, (channel, account, *external_ids)))

    lead_rows, identity_rows = _import_rows(planned, _stored_keys(keys, stored), status, source, now)
    statements = plans.statements(Changes(leads=lead_rows, identities=identity_rows))
    if not lead_rows:
        sqlite_batch.execute(db, statements)
        return 0

    def run(sql: str, params: Any) -> Any:
        return db.executemany(sql, params) if isinstance(params, list) else db.execute(sql, params)

    # migration 0015's insert triggers, set aside for the chunk (crm_core/lead_bulk.py says why)
    triggers_aside(run, lambda: sqlite_batch.execute(db, statements), lead_rows, first_contacts(lead_rows))
    return len(lead_rows)
