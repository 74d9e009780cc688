"""Deal lists over a big base (issue 21's numbers), on SQLite and PostgreSQL: GET /api/deals/list's store calls
(`Store.list_deals`) for several filters and sorts, the first page and the next ones by keyset, 50 a page, and the
board of a pipeline (`Store.deal_board`: each stage's count, amount and latest 30).

    python -m bench.deals --n 1000000 [--pg-n 1000000] [--repeats 5]

Data: one deal per customer (lead), 90 % in the pipeline `sales` (8 stages) and 10 % in `service`; 50 operators own
90 % of them; amounts in 1-1,000,000; activity over the last 120 days (a third stale); closed deals won or lost; a
custom field `kind` (retail / wholesale / partner) on every deal and `site` on one in five. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import keyset_pages, progress, summary_ms
from crm_core.deal_lists import DEAL_SORTS, DealFilter
from crm_core.ids import new_id
from crm_core.lead_lists import NOBODY
from crm_core.migrate import upgrade
from crm_core.recognition import fold
from crm_core.store import Store

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
STAGES = ["new", "contract", "invoice", "prepayment", "in_work", "payment", "won", "lost"]
SERVICE = ["open", "done", "dropped"]
OPERATORS = [f"op{i:02d}" for i in range(50)]
WORDS = ["Кухня", "Шкаф", "Стол", "Диван", "Кровать", "Sofa", "Table", "Chair", "Лампа", "Полка"]
COLUMNS = (
    "id, title, title_search, pipeline, stage, amount, currency, lead_id, responsible, line_id, source, request, "
    "fields, created_at, updated_at, activity_at, closed_at, won"
)


def rows(n: int, seed: int = 21) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(lead row, deal row) pairs, deterministic; times as aware datetimes."""
    rnd = random.Random(seed)
    for i in range(n):
        lead_id, deal_id = new_id(), new_id()
        created = NOW - timedelta(days=rnd.uniform(0, 365))
        activity = max(created, NOW - timedelta(days=rnd.uniform(0, 120)))
        service = rnd.random() < 0.1
        stage = rnd.choice(SERVICE if service else STAGES)
        closed = stage in ("won", "lost", "done", "dropped")
        title = f"{rnd.choice(WORDS)} {i}"
        fields = {"kind": rnd.choice(["retail", "wholesale", "partner"])}
        if rnd.random() < 0.2:
            fields["site"] = f"https://c{i}.example"
        resp = rnd.choice(OPERATORS) if rnd.random() < 0.9 else None
        name = f"Клиент {i}"
        lead = (lead_id, name, fold(name), "converted", resp, created, activity)
        deal = (
            deal_id,
            title,
            fold(title),
            "service" if service else "sales",
            stage,
            rnd.randrange(100, 100_000_000),
            "RUB",
            lead_id,
            resp,
            "shop",
            "shop",
            "",
            json.dumps(fields),
            created,
            activity,
            activity,
            activity if closed else None,
            (stage in ("won", "done")) if closed else None,
        )
        yield lead, deal


def build_sqlite(path: Path, n: int) -> float:
    """The base by plain inserts (the schema of every migration, the rows after), then ANALYZE."""
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    t = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")

    def iso(v: Any) -> Any:
        return v.replace(tzinfo=None).isoformat(" ") if isinstance(v, datetime) else v

    leads, deals = [], []
    for lead, deal in rows(n):
        leads.append(tuple(iso(v) for v in lead))
        deals.append(tuple(iso(v) for v in deal))
        if len(leads) >= 20_000:
            _flush_sqlite(db, leads, deals)
    _flush_sqlite(db, leads, deals)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()
    took = time.perf_counter() - t
    progress(f"deals: SQLite base of {n:,} deals in {took:.0f}s")
    return took


def _flush_sqlite(db: sqlite3.Connection, leads: list[Any], deals: list[Any]) -> None:
    db.executemany(
        "INSERT INTO leads (id, name, name_search, status, responsible, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        leads,
    )
    db.executemany(f"INSERT INTO deals ({COLUMNS}) VALUES ({', '.join('?' * 18)})", deals)
    leads.clear()
    deals.clear()


async def build_pg(url: str, n: int) -> float:
    """The same rows into PostgreSQL by COPY, then ANALYZE."""
    import asyncpg

    upgrade(url)
    t = time.perf_counter()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        leads, deals = [], []
        for lead, deal in rows(n):
            leads.append(lead)
            deals.append(deal)
            if len(leads) >= 50_000:
                await _flush_pg(conn, leads, deals)
        await _flush_pg(conn, leads, deals)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    took = time.perf_counter() - t
    progress(f"deals: PostgreSQL base of {n:,} deals in {took:.0f}s")
    return took


async def _flush_pg(conn: Any, leads: list[Any], deals: list[Any]) -> None:
    await conn.copy_records_to_table(
        "leads",
        records=leads,
        columns=["id", "name", "name_search", "status", "responsible", "created_at", "updated_at"],
    )
    await conn.copy_records_to_table("deals", records=deals, columns=[c.strip() for c in COLUMNS.split(",")])
    leads.clear()
    deals.clear()


CASES: dict[str, tuple[DealFilter, str, bool]] = {
    "recent": (DealFilter(), "updated", True),
    "a stage": (DealFilter(pipeline="sales", stages=("invoice",)), "updated", True),
    "an operator's open": (DealFilter(responsible="op07", state="open"), "updated", True),
    "nobody's, newest": (DealFilter(responsible=NOBODY), "created", True),
    "won, largest": (DealFilter(state="won"), "amount", True),
    "stale": (DealFilter(stale_before=NOW - timedelta(days=30)), "activity", False),
    "words": (DealFilter(query="кухня"), "updated", True),
    "custom field": (DealFilter(fields=(("kind", "eq", "partner"),)), "updated", True),
    "by title": (DealFilter(), "title", False),
}


async def lists(url: str, repeats: int) -> dict[str, Any]:
    """Each case's first page and nine more by keyset, `repeats` times; the board of `sales`."""
    store = Store.open(url)
    board: list[int] = []
    try:
        first, later, worst = await keyset_pages(store.list_deals, CASES, DEAL_SORTS, repeats)
        for _ in range(repeats):
            t0 = time.perf_counter_ns()
            await store.deal_board(DealFilter(pipeline="sales", state="open"), STAGES)
            board.append(time.perf_counter_ns() - t0)
        return {
            "first": summary_ms(first),
            "later": summary_ms(later),
            "board": summary_ms(board),
            "worst_ms": worst,
        }
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="SQLite's deals (0: no SQLite run)")
    parser.add_argument(
        "--pg-n", type=int, default=1_000_000, help="PostgreSQL's deals (0: no PostgreSQL run)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    out: dict[str, Any] = {"n": args.n, "pg_n": args.pg_n}
    with tempfile.TemporaryDirectory(prefix="openlines-deals-") as tmp:
        if args.n:
            db = Path(tmp) / "deals.db"
            built = build_sqlite(db, args.n)
            res = asyncio.run(lists(f"sqlite+aiosqlite:///{db}", args.repeats))
            out["sqlite"] = {"build_s": round(built, 1), **res}
            progress(
                f"deals: SQLite lists p99 first {res['first']['p99_ms']:.1f} ms, later {res['later']['p99_ms']:.1f} ms,"
                f" board {res['board']['p99_ms']:.1f} ms"
            )
    if args.pg_n:
        from bench.scaleout import Postgres

        pg = Postgres()
        try:
            url = pg.create_database("deals")
            built = asyncio.run(build_pg(url, args.pg_n))
            res = asyncio.run(lists(url, args.repeats))
            out["postgresql"] = {"build_s": round(built, 1), "version": pg.version, **res}
            progress(
                f"deals: PostgreSQL lists p99 first {res['first']['p99_ms']:.1f} ms, later "
                f"{res['later']['p99_ms']:.1f} ms, board {res['board']['p99_ms']:.1f} ms"
            )
        finally:
            pg.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
