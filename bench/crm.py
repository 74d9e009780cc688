"""CRM recognition: N stored identities loaded through the store's bulk-import path, then the time to recognise a
returning customer by channel identity (`Store.find_identities`) and by phone / e-mail
(`Store.find_leads_by_contact`), each compared with the same lookup through plain sqlite3 on the same file.

    python -m bench.crm --n 1000000 [--lookups 1000] [--ref-n 200000]

Prints one JSON object on stdout. The import's reference is plain sqlite3 `executemany` of the same rows (same
normalisation, same ids, same schema and indexes, same chunking) into a fresh database.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import progress, summary_ms
from crm_core.ids import new_id
from crm_core.migrate import upgrade
from crm_core.recognition import normalize_email, normalize_phone
from crm_core.store import Store

CHANNEL, ACCOUNT = "telegram", "shop_bot"
CHUNK = 10_000


def contact(i: int) -> dict[str, Any]:
    """Contact number i, deterministic: a unique Russian mobile, a unique e-mail, a Telegram identity."""
    d = f"{i:09d}"
    return {
        "name": f"Customer {i}",
        "phone": f"8 (9{d[0:2]}) {d[2:5]}-{d[5:7]}-{d[7:9]}",
        "email": f"Customer.{i}@Example{i % 97}.com",
        "identity": {
            "channel": CHANNEL,
            "account": ACCOUNT,
            "external_id": str(7_000_000_000 + i),
            "display_name": f"@customer{i}",
        },
    }


def contacts(n: int) -> Iterator[dict[str, Any]]:
    return (contact(i) for i in range(n))


async def store_side(url: str, n: int, sample: list[int]) -> dict[str, Any]:
    store = Store.open(url)
    try:
        t = time.perf_counter()
        created = await store.import_contacts(contacts(n))
        import_s = time.perf_counter() - t
        assert created == n, (created, n)
        progress(f"crm: imported {n:,} contacts through Store.import_contacts in {import_s:.1f}s")

        by_identity, by_phone, by_email = [], [], []
        for i in sample:
            c = contact(i)
            key = (CHANNEL, ACCOUNT, c["identity"]["external_id"])
            t0 = time.perf_counter_ns()
            found = await store.find_identities([key])
            by_identity.append(time.perf_counter_ns() - t0)
            assert key in found
            # a returning customer types the number another way, and the address in another case
            phone = "+7 " + c["phone"][2:].replace("(", "").replace(")", "")
            t0 = time.perf_counter_ns()
            leads = await store.find_leads_by_contact(phone=phone)
            by_phone.append(time.perf_counter_ns() - t0)
            assert [x["name"] for x in leads] == [c["name"]], (phone, leads)
            t0 = time.perf_counter_ns()
            leads = await store.find_leads_by_contact(email=c["email"].upper())
            by_email.append(time.perf_counter_ns() - t0)
            assert [x["name"] for x in leads] == [c["name"]]
        return {
            "imported": created,
            "import_s": import_s,
            "import_rows_per_s": n / import_s,
            "by_identity": summary_ms(by_identity),
            "by_phone": summary_ms(by_phone),
            "by_email": summary_ms(by_email),
        }
    finally:
        await store.close()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")  # the store's pragmas
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def raw_lookups(path: Path, sample: list[int]) -> dict[str, Any]:
    """The same lookups through plain sqlite3 (values already normalised): the floor."""
    db = _connect(path)
    q_ident = (
        "SELECT id, lead_id, channel, account, external_id, display_name FROM identities "
        "WHERE channel = ? AND account = ? AND external_id = ?"
    )
    by_identity, by_phone, by_email = [], [], []
    for i in sample:
        c = contact(i)
        t0 = time.perf_counter_ns()
        row = db.execute(q_ident, (CHANNEL, ACCOUNT, c["identity"]["external_id"])).fetchone()
        by_identity.append(time.perf_counter_ns() - t0)
        assert row is not None
        phone, email = normalize_phone(c["phone"]), normalize_email(c["email"])
        t0 = time.perf_counter_ns()
        rows = db.execute("SELECT * FROM leads WHERE phone = ?", (phone,)).fetchall()
        by_phone.append(time.perf_counter_ns() - t0)
        assert len(rows) == 1
        t0 = time.perf_counter_ns()
        rows = db.execute("SELECT * FROM leads WHERE email = ?", (email,)).fetchall()
        by_email.append(time.perf_counter_ns() - t0)
        assert len(rows) == 1
    db.close()
    return {
        "by_identity": summary_ms(by_identity),
        "by_phone": summary_ms(by_phone),
        "by_email": summary_ms(by_email),
    }


def raw_import(path: Path, n: int) -> dict[str, Any]:
    """Plain sqlite3 executemany of the same rows (normalised, with ids), 10,000 rows a transaction."""
    db = _connect(path)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    lead_sql = (
        "INSERT INTO leads (id, name, phone, email, status, responsible, source, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 'new', NULL, 'import', ?, ?)"
    )
    ident_sql = (
        "INSERT INTO identities (id, lead_id, channel, account, external_id, display_name, profile, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, '{}', ?)"
    )
    t = time.perf_counter()
    for start in range(0, n, CHUNK):
        leads, idents = [], []
        for i in range(start, min(n, start + CHUNK)):
            c = contact(i)
            lead_id = new_id()
            leads.append(
                (lead_id, c["name"], normalize_phone(c["phone"]), normalize_email(c["email"]), now, now)
            )
            ident = c["identity"]
            idents.append(
                (new_id(), lead_id, CHANNEL, ACCOUNT, ident["external_id"], ident["display_name"], now)
            )
        db.execute("BEGIN")
        db.executemany(lead_sql, leads)
        db.executemany(ident_sql, idents)
        db.execute("COMMIT")
    seconds = time.perf_counter() - t
    db.close()
    return {"rows": n, "import_s": seconds, "import_rows_per_s": n / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--ref-n", type=int, default=0, help="rows of the raw-sqlite3 import (default: n)")
    args = parser.parse_args()
    rng = random.Random(20261123)
    sample = rng.sample(range(args.n), min(args.lookups, args.n))
    with tempfile.TemporaryDirectory(prefix="openlines-bench-crm-") as tmp:
        db = Path(tmp) / "crm.db"
        url = f"sqlite+aiosqlite:///{db}"
        upgrade(url)
        store = asyncio.run(store_side(url, args.n, sample))
        raw = raw_lookups(db, sample)
        progress(
            f"crm: lookups p50 identity {store['by_identity']['p50_ms']:.2f} ms "
            f"(sqlite3 {raw['by_identity']['p50_ms']:.3f}), phone {store['by_phone']['p50_ms']:.2f} ms, "
            f"e-mail {store['by_email']['p50_ms']:.2f} ms"
        )
        db_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())
        ref_n = args.ref_n or args.n
        ref_db = Path(tmp) / "raw.db"
        upgrade(f"sqlite+aiosqlite:///{ref_db}")
        ref = raw_import(ref_db, ref_n)
        progress(f"crm: plain sqlite3 import of {ref_n:,} rows in {ref['import_s']:.1f}s")
    out = {
        "n": args.n,
        "lookups": len(sample),
        "db_mib": round(db_bytes / 2**20, 1),
        "store": store,
        "sqlite3": {**raw, "import": ref},
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
