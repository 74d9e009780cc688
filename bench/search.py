"""Message search (`Store.search_messages`) among many stored messages: SQLite (FTS5) and PostgreSQL (GIN).

    python -m bench.search --messages 10000000 --leads 1000000 [--searches 480] [--pg-messages 10000000]

The SQLite database is made once through the migrations and filled with plain sqlite3 `executemany` in big
transactions (the FTS triggers set aside, the index built by one FTS5 'rebuild', the triggers put back), then kept
in bench/.cache/ (gitignored) under a name with its sizes, the schema head and the generator's version, so a rerun
searches at once. PostgreSQL: a throwaway cluster (bench/scaleout.py), the schema by the migrations, the rows by
COPY with the search index dropped and then built again with its own definition (the server computes the stored
search column of each copied row); not cached.

Text: 4–14 words per message, Zipf-distributed over ~60,000 words in Latin, Cyrillic and Greek script (real
frequent words first, syllable-made ones after), a capital first letter, and an order number in one message of
ten (a word found once). Searches: words of each frequency class (rare ≈ tens of messages, medium ≈ thousands,
common ≈ hundreds of thousands or more; an order number), with no filter, with a line, a state, a recent date
range, as a non-admin operator (access in the query), and a later page (the third, by the cursor), 20 per page.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import REPO, progress, summary_ms
from bench.search_data import LINES, SPAN, SQL, START, Texts, rows
from crm_core.migrate import MIGRATIONS, upgrade
from crm_core.search import (
    SearchAccess,
    SearchFilters,
    fts5_query,
    search_words,
)
from crm_core.search_pg import PG_COLUMN
from crm_core.store import Store

GENERATOR = 3  # bump when the generated data or its index changes: the cached database is made again
CACHE = REPO / "bench" / ".cache"


def head() -> str:
    """The newest migration's revision (part of the cache key)."""
    return max(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))


def build_sqlite(path: Path, n_leads: int, n_messages: int) -> dict[str, Any]:
    """Make the database through the migrations, then bulk-load it; the time each part took."""
    t0 = time.perf_counter()
    upgrade(f"sqlite+aiosqlite:///{path}")
    db = sqlite3.connect(path, isolation_level=None)
    triggers = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'"
    )
    saved = triggers.fetchall()
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")
    for name, _ in saved:
        db.execute(f"DROP TRIGGER {name}")
    batch: dict[str, list[tuple[Any, ...]]] = {k: [] for k in SQL}
    done = 0
    db.execute("BEGIN")
    for table, row in rows(n_leads, n_messages):
        batch[table].append(row)
        if table == "message":
            done += 1
            if done % 200_000 == 0:
                for k in SQL:
                    db.executemany(SQL[k], batch[k])
                    batch[k].clear()
                if done % 1_000_000 == 0:
                    db.execute("COMMIT")
                    db.execute("BEGIN")
                    progress(f"search: {done:,} messages loaded in {time.perf_counter() - t0:.0f}s")
    for k in SQL:
        db.executemany(SQL[k], batch[k])
    db.execute("COMMIT")
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
    # every message is in the index now (crm_core/search_index.py indexes those above the watermark)
    db.execute(
        "UPDATE messages_fts_progress SET indexed_rowid = (SELECT coalesce(max(rowid), 0) FROM messages)"
    )
    for _, sql in saved:
        db.execute(sql)
    index_s = time.perf_counter() - t1
    db.execute("ANALYZE")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    return {"load_s": round(load_s, 1), "index_s": round(index_s, 1), "triggers": len(saved)}


async def build_pg(url: str, n_leads: int, n_messages: int) -> dict[str, Any]:
    """The same rows into PostgreSQL by COPY, the search index built after them."""
    import asyncpg

    t0 = time.perf_counter()
    upgrade(url)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        # the search's GIN and BRIN (0012), built again after the rows (a BRIN built then is summarized, as
        # autovacuum would have summarized the block ranges filled by the inserts)
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'ix_messages_search%'"
        )
        for ix in indexes:
            await conn.execute(f"DROP INDEX {ix['indexname']}")
        cols = {k: v.split("(", 1)[1].split(")", 1)[0].split(", ") for k, v in SQL.items()}
        tables = {"lead": "leads", "identity": "identities", "dialog": "dialogs", "message": "messages"}
        batch: dict[str, list[tuple[Any, ...]]] = {k: [] for k in SQL}

        def conv(table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(
                datetime.fromisoformat(v).replace(tzinfo=UTC)
                if isinstance(v, str) and c in ("created_at", "updated_at", "closed_at")
                else v
                for c, v in zip(cols[table], row, strict=True)
            )

        async def flush() -> None:
            for k in ("lead", "identity", "dialog", "message"):
                if batch[k]:
                    recs = [conv(k, r) for r in batch[k]]
                    await conn.copy_records_to_table(tables[k], records=recs, columns=cols[k])
                    batch[k].clear()

        done = 0
        for table, row in rows(n_leads, n_messages):
            batch[table].append(row)
            if table == "message":
                done += 1
                if done % 100_000 == 0:
                    await flush()
                    if done % 1_000_000 == 0:
                        progress(
                            f"search: PostgreSQL {done:,} messages copied in {time.perf_counter() - t0:.0f}s"
                        )
        await flush()
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for ix in indexes:  # the GIN over the stored column search_tsv (0012), filled by the COPY; the BRIN
            await conn.execute(ix["indexdef"])
        index_s = time.perf_counter() - t1
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return {"load_s": round(load_s, 1), "index_s": round(index_s, 1)}


def cases(n_messages: int, n_leads: int, searches: int, seed: int = 7) -> list[dict[str, Any]]:
    """The searches: (class, variant) pairs round robin, each with a word of its class."""
    rng = random.Random(seed)
    texts = Texts(random.Random(20261207), n_messages)  # the same stream as the data
    words = texts.by_frequency(n_messages)
    end = START + SPAN
    variants: list[tuple[str, dict[str, Any]]] = [
        ("plain", {}),
        ("line", {"filters": SearchFilters(lines=[LINES[3]])}),
        ("closed", {"filters": SearchFilters(state="closed")}),
        ("recent", {"filters": SearchFilters(since=end - timedelta(days=30))}),
        ("operator", {"access": SearchAccess("op12", frozenset({LINES[2]}))}),
        ("page3", {"page": 3}),
    ]
    out = []
    for i in range(searches):
        klass = ("rare", "medium", "common", "number")[i % 4]
        name, kw = variants[(i // 4) % len(variants)]
        if klass == "number":
            word = str(5_000_000 + rng.randrange(0, n_messages, 10))
        else:
            word = rng.choice(words[klass] or words["common"])
        out.append({"class": klass, "variant": name, "query": word, **kw})
    # outside the mix, reported on their own: messages before a date a year back (newest first, so every newer
    # match is passed over first: the SQLite index has no date order of its own)
    old = SearchFilters(until=START + SPAN / 2)
    for i in range(24):
        klass = ("rare", "medium", "common")[i % 3]
        out.append(
            {"class": klass, "variant": "until_old", "query": rng.choice(words[klass]), "filters": old}
        )
    return out


async def run_searches(url: str, plan: list[dict[str, Any]]) -> dict[str, Any]:
    """Each search through the store; p50/p99 overall and per class and variant."""
    store = Store.open(url)
    try:
        for c in plan[:20]:  # warm the connection pool
            await store.search_messages(c["query"], access=None)
        timings: list[tuple[str, str, int, int]] = []
        outside: list[tuple[str, str, int, int]] = []
        for c in plan:
            cursor = None
            for _ in range(c.get("page", 1) - 1):  # earlier pages, not timed
                _, cursor = await store.search_messages(
                    c["query"],
                    access=c.get("access"),
                    filters=c.get("filters", SearchFilters()),
                    cursor=cursor,
                )
                if cursor is None:
                    break
            t0 = time.perf_counter_ns()
            found, _ = await store.search_messages(
                c["query"], access=c.get("access"), filters=c.get("filters", SearchFilters()), cursor=cursor
            )
            took = (c["class"], c["variant"], time.perf_counter_ns() - t0, len(found))
            (outside if c["variant"] == "until_old" else timings).append(took)
    finally:
        await store.close()
    out: dict[str, Any] = {"all": summary_ms([x[2] for x in timings]), "searches": len(timings)}
    for key, idx in (("by_class", 0), ("by_variant", 1)):
        groups: dict[str, list[int]] = {}
        for x in timings:
            groups.setdefault(str(x[idx]), []).append(x[2])
        out[key] = {k: summary_ms(v) for k, v in groups.items()}
    out["empty_pages"] = sum(1 for x in timings if x[3] == 0)
    out["outside_mix"] = {
        "until_old": {**summary_ms([x[2] for x in outside]), "searches": len(outside)},
        **{
            f"until_old.{k}": summary_ms([x[2] for x in outside if x[0] == k])
            for k in ("rare", "medium", "common")
        },
    }
    out["bare"] = await bare_lookups(url, [c for c in plan if c["variant"] == "plain"])
    return out


async def bare_lookups(url: str, plan: list[dict[str, Any]]) -> dict[str, Any]:
    """The reference: the index lookup alone (the page's keys, newest first, no join, no filter, no access) by the
    driver itself, for the unfiltered searches' words."""
    timings = []
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.split("///", 1)[1])
        sql = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT 21"
        for c in plan:
            q = fts5_query(search_words(c["query"]))
            db.execute(sql, (q,)).fetchall()  # warm, as the store's own pass was
            t = time.perf_counter_ns()
            db.execute(sql, (q,)).fetchall()
            timings.append(time.perf_counter_ns() - t)
        db.close()
    else:
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        doc = f"messages.{PG_COLUMN}"
        try:
            for c in plan:
                sql = f"SELECT id FROM messages WHERE {doc} @@ phraseto_tsquery('simple', $1) ORDER BY id DESC LIMIT 21"
                await conn.fetch(sql, c["query"].lower())  # warm, as the store's own pass was
                t = time.perf_counter_ns()
                await conn.fetch(sql, c["query"].lower())
                timings.append(time.perf_counter_ns() - t)
        finally:
            await conn.close()
    return {**summary_ms(timings), "searches": len(timings)}


def sqlite_side(n_leads: int, n_messages: int, plan: list[dict[str, Any]]) -> dict[str, Any]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"search-g{GENERATOR}-s{head()}-{n_leads}-{n_messages}.db"
    built: dict[str, Any] = {"cached": True}
    if not path.exists():
        tmp = path.with_suffix(".building")
        for p in CACHE.glob(tmp.name + "*"):
            p.unlink()
        progress(f"search: building {path.name} (once; kept in bench/.cache/)")
        built = {"cached": False, **build_sqlite(tmp, n_leads, n_messages)}
        tmp.rename(path)
        progress(f"search: built in {built['load_s'] + built['index_s']:.0f}s")
    size = path.stat().st_size
    res = asyncio.run(run_searches(f"sqlite+aiosqlite:///{path}", plan))
    return {"build": built, "db_mib": round(size / 2**20), **res}


def pg_side(n_leads: int, n_messages: int, plan: list[dict[str, Any]]) -> dict[str, Any]:
    from bench.scaleout import Postgres

    pg = Postgres()
    try:
        url = pg.create_database("search")
        built = asyncio.run(build_pg(url, n_leads, n_messages))
        progress(f"search: PostgreSQL built in {built['load_s'] + built['index_s']:.0f}s")
        size = int(pg.psql("SELECT pg_database_size('search')", "search"))
        res = asyncio.run(run_searches(url, plan))
        return {"build": built, "db_mib": round(size / 2**20), "version": pg.version, **res}
    finally:
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000_000, help="0: no SQLite run")
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--searches", type=int, default=480)
    parser.add_argument("--pg-messages", type=int, default=10_000_000, help="0: no PostgreSQL run")
    parser.add_argument(
        "--pg-searches", type=int, default=240, help="PostgreSQL's searches (its slow ones take s)"
    )
    parser.add_argument("--pg-leads", type=int, default=0, help="default: messages / 10")
    args = parser.parse_args()
    out: dict[str, Any] = {"messages": args.messages, "leads": args.leads}
    if args.messages:
        progress(f"search: SQLite, {args.messages:,} messages, {args.leads:,} leads")
        out["sqlite"] = sqlite_side(
            args.leads, args.messages, cases(args.messages, args.leads, args.searches)
        )
        lite = out["sqlite"]["all"]
        progress(f"search: SQLite p50 {lite['p50_ms']:.2f} ms, p99 {lite['p99_ms']:.2f} ms")
    if args.pg_messages:
        pg_leads = args.pg_leads or max(1, args.pg_messages // 10)
        out["postgresql"] = {
            "messages": args.pg_messages,
            "leads": pg_leads,
            **pg_side(pg_leads, args.pg_messages, cases(args.pg_messages, pg_leads, args.pg_searches)),
        }
        pgr = out["postgresql"]["all"]
        progress(f"search: PostgreSQL p50 {pgr['p50_ms']:.2f} ms, p99 {pgr['p99_ms']:.2f} ms")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
