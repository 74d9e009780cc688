"""Duplicate control over a big base (issue 20's numbers), on SQLite:

- CSV import of N leads (`Store.import_leads` from a generated file: reading, checking, duplicate checks against the
  store and the file, writing with the triggers that keep the duplicate keys);
- building the duplicate index for N stored leads (migration 0015 run over a base made at 0014);
- a page of the duplicate list (what GET /api/duplicates asks of the store: the keys, their leads with their links,
  the skipped pairs), p50 / p99 over pages from random places, per criterion;
- the upkeep of the keys on a lead change (a rename and a new phone), with the triggers against without them;
- merging a lead with 1,000 dialogs into another, and undoing it.

    python -m bench.duplicates --n 1000000 [--pages 200]

Data: names from 60 first and 1,500 last names (so a full name is shared by ~10 leads), a unique mobile each but
for 2 % that take an earlier lead's, an e-mail for two leads in three (1 % an earlier one's). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import keyset_pages, progress, summary_ms
from crm_core import csv_leads
from crm_core.ids import new_id
from crm_core.lead_lists import NOBODY, SORTS, LeadFilter
from crm_core.migrate import upgrade
from crm_core.store import Changes, Store

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
FIRST = [f"Имя{chr(0x430 + i % 30)}{chr(0x430 + i // 30)}" for i in range(60)]
LAST = [
    f"Фамилия{chr(0x430 + i % 30)}{chr(0x430 + (i // 30) % 30)}{chr(0x430 + i // 900)}" for i in range(1500)
]


def people(n: int, seed: int = 20) -> list[tuple[str, str, str]]:
    """(name, phone, email) of n leads, deterministic."""
    rnd = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    for i in range(n):
        name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        phone = f"+7916{i:07d}" if not out or rnd.random() >= 0.02 else out[rnd.randrange(len(out))][1]
        if rnd.random() < 0.33:
            email = ""
        elif out and rnd.random() < 0.015:
            email = out[rnd.randrange(len(out))][2]  # may be "" too: that lead had none
        else:
            email = f"c{i}@example.com"
        out.append((name, phone, email))
    return out


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("ФИО;Телефон;E-mail\n")
        for name, phone, email in rows:
            f.write(f"{name};{phone};{email}\n")


async def csv_import(url: str, path: Path) -> dict[str, Any]:
    store = Store.open(url)
    try:
        t = time.perf_counter()
        text, _ = csv_leads.decode(await asyncio.to_thread(path.read_bytes))
        _, _, rows = csv_leads.rows(text, statuses=["new"])
        report = await store.import_leads(rows, now=NOW)
        took = time.perf_counter() - t
        progress(f"duplicates: CSV import of {report.created + report.duplicates:,} rows in {took:.1f}s")
        return {"import_s": took, "created": report.created, "duplicates": report.duplicates}
    finally:
        await store.close()


def index_build(path: Path, rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A base at 0014 with the leads, then migration 0015 (the contacts, the name keys, the counts, the triggers)."""
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0014")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    now = NOW.replace(tzinfo=None).isoformat(" ")
    db.executemany(
        "INSERT INTO leads (id, name, name_search, phone, email, status, created_at, updated_at) "
        "VALUES (?, ?, '', ?, ?, 'new', ?, ?)",
        ((new_id(), name, phone, email or None, now, now) for name, phone, email in rows),
    )
    db.execute("COMMIT")
    db.close()
    t = time.perf_counter()
    upgrade(url, "0015")  # the duplicate index alone; the later migrations after the clock stops
    took = time.perf_counter() - t
    upgrade(url)
    progress(f"duplicates: the index over {len(rows):,} leads built in {took:.1f}s")
    return {"build_s": took}


async def pages(url: str, n_pages: int) -> dict[str, Any]:
    store = Store.open(url)
    rnd = random.Random(7)
    out: dict[str, Any] = {}
    try:
        for by in ("phone", "email", "name"):
            async with store.engine.connect() as conn:
                keys = [
                    r[0]
                    for r in (
                        await conn.exec_driver_sql(
                            "SELECT key FROM duplicate_keys WHERE criterion = ? AND leads > 1", (by,)
                        )
                    ).all()
                ]
            times: list[int] = []
            groups = 0
            for _ in range(n_pages):
                after = rnd.choice(keys) if keys else None
                t0 = time.perf_counter_ns()
                got = await store.duplicate_keys(by, after=after, limit=20)
                members = await store.duplicate_members(by, got)
                await store.skipped_pairs([m["id"] for m in members])
                times.append(time.perf_counter_ns() - t0)
                groups += len(got)
            out[by] = {
                **summary_ms(times),
                "shared_keys": len(keys),
                "groups_per_page": groups / max(1, n_pages),
            }
            progress(f"duplicates: pages by {by}: p99 {out[by]['p99_ms']:.1f} ms ({len(keys):,} shared keys)")
    finally:
        await store.close()
    return out


def upkeep(path: Path, changes: int = 2000) -> dict[str, Any]:
    """A lead renamed and given a phone, one transaction each: with the triggers, and without (dropped inside a
    transaction that is rolled back)."""
    db = sqlite3.connect(path, isolation_level=None)
    ids = [r[0] for r in db.execute("SELECT id FROM leads ORDER BY random() LIMIT ?", (changes,))]

    def run(label: str) -> list[int]:
        times = []
        for i, lead_id in enumerate(ids):
            t0 = time.perf_counter_ns()
            db.execute("SAVEPOINT change")
            db.execute(
                "UPDATE leads SET name = ?, name_key = ? WHERE id = ?",
                (f"Иван Петров{i}", f"петров{i} иван", lead_id),
            )
            db.execute(
                "INSERT INTO lead_contacts (lead_id, kind, value, comment, position) VALUES (?, 'phone', ?, '', 9)",
                (lead_id, f"+7495{label}{i:07d}"),
            )
            db.execute("RELEASE change")
            times.append(time.perf_counter_ns() - t0)
        return times

    db.execute("BEGIN")
    with_triggers = run("1")
    db.execute("ROLLBACK")
    db.execute("BEGIN")
    for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%dup%'"
    ).fetchall():
        db.execute(f"DROP TRIGGER {name}")
    without = run("2")
    db.execute("ROLLBACK")
    db.close()
    a, b = summary_ms(with_triggers), summary_ms(without)
    return {
        "with": a,
        "without": b,
        "upkeep_ms": (sum(with_triggers) - sum(without)) / len(ids) / 1e6,
    }


async def lists(url: str, repeats: int) -> dict[str, Any]:
    """GET /api/leads/list's store calls over the imported base: the first page and the tenth (keyset) of several
    filters and sorts, 50 leads a page."""
    store = Store.open(url)
    cases = {
        "recent": (LeadFilter(), "updated", True),
        "by name": (LeadFilter(), "name", False),
        "status": (LeadFilter(statuses=("new",)), "updated", True),
        "nobody's, created": (LeadFilter(responsible=NOBODY), "created", True),
        "words": (LeadFilter(query="фамилия"), "updated", True),
        "channel": (LeadFilter(channel="telegram"), "updated", True),
    }
    try:
        first, later, worst = await keyset_pages(store.list_leads, cases, SORTS, repeats)
        progress(
            f"duplicates: lists, first page p99 {summary_ms(first)['p99_ms']:.1f} ms, later {summary_ms(later)['p99_ms'] if later else 0:.1f} ms"
        )
        return {"first": summary_ms(first), "later": summary_ms(later), "worst_ms": worst}
    finally:
        await store.close()


async def merge(url: str, dialogs_n: int = 1000) -> dict[str, Any]:
    store = Store.open(url)
    try:
        leads = []
        for n in (1, dialogs_n):
            lead_id, ident_id, ext = new_id(), new_id(), new_id()
            ch = Changes(
                leads=[
                    {
                        "id": lead_id,
                        "name": "Иван Петров",
                        "status": "new",
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                ],
                identities=[
                    {
                        "id": ident_id,
                        "lead_id": lead_id,
                        "channel": "telegram",
                        "account": "bench",
                        "external_id": ext,
                        "display_name": "Иван",
                        "profile": {},
                        "created_at": NOW,
                    }
                ],
            )
            for _ in range(n):
                d = new_id()
                ch.dialogs_new.append(
                    {
                        "id": d,
                        "lead_id": lead_id,
                        "identity_id": ident_id,
                        "line_id": "support",
                        "channel": "telegram",
                        "account": "bench",
                        "chat_id": ext,
                        "state": "closed",
                        "offered_to": [],
                        "excluded": [],
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
                ch.messages += [
                    {
                        "id": new_id(),
                        "dialog_id": d,
                        "channel": "telegram",
                        "account": "bench",
                        "external_id": new_id(),
                        "direction": "in",
                        "author_kind": "customer",
                        "text": "Здравствуйте",
                        "attachments": [],
                        "created_at": NOW,
                    }
                    for _ in range(5)
                ]
            await store.apply(ch)
            leads.append(lead_id)
        t = time.perf_counter()
        merge_id = await store.merge_leads(leads[0], [leads[1]], {}, by="bench", now=NOW)
        merge_s = time.perf_counter() - t
        t = time.perf_counter()
        await store.undo_merge(merge_id, by="bench", now=NOW)
        undo_s = time.perf_counter() - t
        progress(
            f"duplicates: merge of a lead with {dialogs_n:,} dialogs {merge_s * 1000:.0f} ms, undo {undo_s * 1000:.0f} ms"
        )
        return {"dialogs": dialogs_n, "merge_s": merge_s, "undo_s": undo_s}
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--merge-dialogs", type=int, default=1000)
    args = parser.parse_args()
    rows = people(args.n)
    with tempfile.TemporaryDirectory(prefix="openlines-dups-") as tmp:
        base = Path(tmp)
        csv_path = base / "leads.csv"
        write_csv(csv_path, rows)
        built = index_build(base / "built.db", rows)
        db = base / "imported.db"
        url = f"sqlite+aiosqlite:///{db}"
        upgrade(url)
        imported = asyncio.run(csv_import(url, csv_path))
        listed = asyncio.run(lists(url, 3 if args.pages < 50 else 10))
        # the import left the duplicates out: the list, the upkeep and the merge run on the base with them
        built_url = f"sqlite+aiosqlite:///{base / 'built.db'}"
        paged = asyncio.run(pages(built_url, args.pages))
        kept = upkeep(base / "built.db")
        merged = asyncio.run(merge(built_url, args.merge_dialogs))
    print(
        json.dumps(
            {
                "n": args.n,
                "store": "sqlite",
                "index": built,
                "import": imported,
                "pages": paged,
                "upkeep": kept,
                "lists": listed,
                "merge": merged,
            }
        )
    )


if __name__ == "__main__":
    main()
