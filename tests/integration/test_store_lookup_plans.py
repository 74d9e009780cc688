"""The router's per-batch lookups (find_messages, find_identities, leads_by_id, latest_closed_dialogs, the
outbox_done delete) return the same rows on SQLite and PostgreSQL, and on PostgreSQL a lookup by keys probes
the unique index once per key instead of reading every row of the batch's (channel, account)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, event, select, text

from crm_core import pg_batch
from crm_core.models import dialogs, identities, leads, messages
from crm_core.store import Changes, Key, Store

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
CONVERSATIONS = [("telegram", "shop_bot"), ("telegram", "other_bot"), ("vk", "club1")]
KEY_COLUMNS = ("channel", "account", "external_id")


def lead(lead_id: str) -> dict[str, Any]:
    return {"id": lead_id, "name": lead_id, "status": "new", "created_at": NOW, "updated_at": NOW}


def identity(ident_id: str, lead_id: str, channel: str, account: str, external_id: str) -> dict[str, Any]:
    return {
        "id": ident_id,
        "lead_id": lead_id,
        "channel": channel,
        "account": account,
        "external_id": external_id,
        "display_name": f"@{external_id}",
        "profile": {},
        "created_at": NOW,
    }


def dialog(dialog_id: str, ident: dict[str, Any], state: str, closed_at: datetime | None) -> dict[str, Any]:
    return {
        "id": dialog_id,
        "lead_id": ident["lead_id"],
        "identity_id": ident["id"],
        "line_id": "support",
        "channel": ident["channel"],
        "account": ident["account"],
        "chat_id": ident["external_id"],
        "state": state,
        "offered_to": [],
        "excluded": [],
        "created_at": NOW,
        "updated_at": NOW,
        "closed_at": closed_at,
    }


def message(
    msg_id: str, dialog_id: str, channel: str, account: str, external_id: str | None
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "dialog_id": dialog_id,
        "channel": channel,
        "account": account,
        "external_id": external_id,
        "direction": "in",
        "author_kind": "customer",
        "text": f"text of {msg_id}",
        "attachments": [],
        "created_at": NOW,
    }


async def seed(store: Store) -> None:
    """In each conversation: identities "42" and "43" (the same external ids in every conversation), one
    dialog, messages "m1" and "m2" and one without an external id; identity 42 of the first conversation also
    has two closed dialogs."""
    ch = Changes(leads=[lead("lead-a"), lead("lead-b")])
    for n, (channel, account) in enumerate(CONVERSATIONS):
        a = identity(f"i{n}-42", "lead-a", channel, account, "42")
        b = identity(f"i{n}-43", "lead-b", channel, account, "43")
        ch.identities += [a, b]
        ch.dialogs_new.append(dialog(f"d{n}", a, "open", None))
        ch.messages += [
            message(f"msg{n}-1", f"d{n}", channel, account, "m1"),
            message(f"msg{n}-2", f"d{n}", channel, account, "m2"),
            message(f"msg{n}-x", f"d{n}", channel, account, None),
        ]
    first = ch.identities[0]
    ch.dialogs_new += [
        dialog("closed-old", first, "closed", NOW - timedelta(days=2)),
        dialog("closed-new", first, "closed", NOW - timedelta(days=1)),
    ]
    await store.apply(ch)


async def stored(store: Store, table: Table) -> dict[Key, dict[str, Any]]:
    """Every row of a table with a key, read with a plain SELECT."""
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(table))).mappings().all()
    return {(r["channel"], r["account"], r["external_id"]): dict(r) for r in rows if r["external_id"]}


ABSENT_KEYS: list[Key] = [
    ("telegram", "shop_bot", "absent"),
    ("vk", "shop_bot", "m1"),  # a stored external id and account, in another channel
    ("telegram", "club1", "42"),  # a stored channel and external id, under another account
    ("email", "inbox", "m2"),
    ("telegram", "shop_bot", "ab\x00sent"),  # PostgreSQL refuses NUL in text: the key is bound as stored
    ("telegram", "shop_bot", "x" * 300),  # longer than the column
]


async def test_find_messages_returns_exactly_the_stored_rows(store: Store) -> None:
    await seed(store)
    rows = await stored(store, messages)
    present: list[Key] = [
        ("telegram", "shop_bot", "m1"),
        ("telegram", "other_bot", "m2"),
        ("vk", "club1", "m1"),
        ("vk", "club1", "m2"),
    ]
    keys = [*present, *ABSENT_KEYS, present[0], present[2], present[0]]  # duplicates too
    found = await store.find_messages(iter(keys))
    assert found == {k: rows[k] for k in present}
    assert all(set(row) == set(messages.c.keys()) for row in found.values())
    assert await store.find_messages([("telegram", "shop_bot", "m1")]) == {
        ("telegram", "shop_bot", "m1"): rows[("telegram", "shop_bot", "m1")]
    }
    assert await store.find_messages(ABSENT_KEYS) == {}
    assert await store.find_messages([]) == {}
    assert await store.find_messages(iter(())) == {}


async def test_find_identities_returns_exactly_the_stored_rows(store: Store) -> None:
    await seed(store)
    cols = ("id", "lead_id", "channel", "account", "external_id", "display_name")
    rows = {k: {c: row[c] for c in cols} for k, row in (await stored(store, identities)).items()}
    present: list[Key] = [(channel, account, "42") for channel, account in CONVERSATIONS]
    present.append(("telegram", "other_bot", "43"))
    keys = [*ABSENT_KEYS, *present, *present]
    found = await store.find_identities(keys)
    assert found == {k: rows[k] for k in present}
    assert all(tuple(row) == cols for row in found.values())
    assert await store.find_identities(ABSENT_KEYS) == {}
    assert await store.find_identities([]) == {}


async def test_lookups_by_id_and_the_outbox_done_delete(store: Store) -> None:
    await seed(store)
    found = await store.leads_by_id(["lead-b", "nobody", "lead-b", "lead-a"])
    assert sorted(found) == ["lead-a", "lead-b"]
    async with store.engine.connect() as conn:
        assert found["lead-a"] == dict(
            (await conn.execute(select(leads).where(leads.c.id == "lead-a"))).one()._mapping
        )
        closed_new = (await conn.execute(select(dialogs).where(dialogs.c.id == "closed-new"))).one()._mapping
    assert await store.leads_by_id(["nobody"]) == {}
    assert await store.leads_by_id([]) == {}

    # the latest closed dialog of identity i0-42; i1-42 has only an open one, "nobody" none at all
    assert await store.latest_closed_dialogs(["i0-42", "i1-42", "nobody", "i0-42"]) == {
        "i0-42": dict(closed_new)
    }
    assert await store.latest_closed_dialogs([]) == {}

    box = [
        {"id": f"o{n}", "stream": "out", "key": None, "payload": "{}", "created_at": NOW} for n in range(4)
    ]
    await store.apply(Changes(outbox=box))
    await store.apply(Changes(outbox_done=["o0", "o2", "not-there"]))
    assert [r["id"] for r in await store.pending_outbox()] == ["o1", "o3"]


# ---- the PostgreSQL plan --------------------------------------------------------------------------------

# rows under one (channel, account). PostgreSQL hashes a small table whole rather than probe it per key when
# that is cheaper (about 200 rows a key for identities): the per-key plan is asserted where reading every row
# of the pair is what the probes avoid
BULK = 50_000


async def insert_bulk_messages(conn: Any, n: int) -> None:
    """n messages 'bulk-m1'… in telegram/shop_bot (external ids 'e1'…) of dialog d0."""
    await conn.execute(
        text(
            "INSERT INTO messages (id, dialog_id, channel, account, external_id, direction, author_kind,"
            " author_name, text, visibility, attachments, created_at)"
            " SELECT 'bulk-m' || g, 'd0', 'telegram', 'shop_bot', 'e' || g, 'in', 'customer', '', 'hi',"
            " 'public', '[]', now() FROM generate_series(1, :n) AS g"
        ),
        {"n": n},
    )


async def seed_bulk(store: Store) -> None:
    """BULK identities and BULK messages in telegram/shop_bot (the seed's conversations besides), analyzed."""
    await seed(store)
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO identities (id, lead_id, channel, account, external_id, display_name, profile,"
                " created_at) SELECT 'bulk-i' || g, 'lead-a', 'telegram', 'shop_bot', 'u' || g, '', '{}', now()"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": BULK},
        )
        await insert_bulk_messages(conn, BULK)
    async with store.engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE identities")  # as autovacuum would have: a deterministic plan
        await conn.exec_driver_sql("ANALYZE messages")
        await conn.commit()


@contextmanager
def issued(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """The (statement, parameters) the store sends to the driver meanwhile."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)


async def explain(store: Store, statement: str, parameters: Any) -> dict[str, Any]:
    """The plan PostgreSQL chooses for the statement with these parameters (a custom plan)."""
    async with store.engine.connect() as conn:
        out = (await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)).scalar_one()
    return (json.loads(out) if isinstance(out, str) else out)[0]["Plan"]  # type: ignore[no-any-return]


async def explain_generic(store: Store, statement: str) -> dict[str, Any]:
    """The plan of the statement prepared once and reused for any keys (a pooled connection's cached one)."""
    async with store.engine.connect() as conn:
        await conn.exec_driver_sql(f"PREPARE key_lookup AS {statement}")
        try:
            await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            sql = "EXPLAIN (FORMAT JSON) EXECUTE key_lookup('{}', '{}', '{}')"  # values do not shape the plan
            out = (await conn.exec_driver_sql(sql)).scalar_one()
        finally:
            await conn.exec_driver_sql("DEALLOCATE key_lookup")
            await conn.exec_driver_sql("RESET plan_cache_mode")
    return (json.loads(out) if isinstance(out, str) else out)[0]["Plan"]  # type: ignore[no-any-return]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def assert_one_index_probe_per_key(plan: dict[str, Any], table: str) -> None:
    """A nested loop over the unnested keys, each looked up on the unique index by all three columns."""
    scans = [n for n in nodes(plan) if n.get("Relation Name") == table]
    assert len(scans) == 1, plan
    scan = scans[0]
    assert scan["Node Type"] == "Index Scan", plan
    assert scan["Index Name"] == f"uq_{table}_channel_account_external", plan
    assert "Filter" not in scan, plan  # nothing read from the index is thrown away by the key list
    cond = scan["Index Cond"]
    assert all(f"k.{c}" in cond for c in KEY_COLUMNS), cond  # each column matched to the key's own value
    assert " OR " not in cond and "ANY" not in cond, cond
    loop = next(n for n in nodes(plan) if scan in n.get("Plans", []))
    assert loop["Node Type"] == "Nested Loop", plan
    assert [n["Node Type"] for n in loop["Plans"]] == ["Function Scan", "Index Scan"], plan


@pytest.mark.backends("sqlite")
async def test_sqlite_searches_the_unique_index_instead_of_scanning(store: Store, backend: str) -> None:
    await seed(store)
    keys: list[Key] = [("telegram", "shop_bot", f"e{i}") for i in range(50)] + [("vk", "club1", "m1")]
    for lookup, table in ((store.find_messages, "messages"), (store.find_identities, "identities")):
        with issued(store) as seen:
            await lookup(keys)
        (statement, parameters), *_ = seen
        async with store.engine.connect() as conn:
            plan = [
                row[3] for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            ]
        assert not any(step.startswith(f"SCAN {table}") for step in plan), plan  # a row-value IN did that
        searches = [step for step in plan if step.startswith(f"SEARCH {table} USING INDEX")]
        assert searches and all("(channel=? AND account=? AND external_id=?)" in step for step in searches), (
            plan
        )


@pytest.mark.backends("postgresql")
async def test_postgresql_looks_each_key_up_on_the_unique_index(store: Store, backend: str) -> None:
    await seed_bulk(store)
    lookups = [(store.find_messages, "messages", "e"), (store.find_identities, "identities", "u")]
    for lookup, table, prefix in lookups:
        statements = set()
        for size in (1, 20, 100):  # a router batch holds up to 100 events
            keys: list[Key] = [("telegram", "shop_bot", f"{prefix}{1 + i * 97}") for i in range(size)]
            keys += [
                ("telegram", "shop_bot", "absent"),
                ("vk", "club1", "m1" if table == "messages" else "42"),
            ]
            with issued(store) as seen:
                found = await lookup(keys)
            assert set(found) == set(keys) - {("telegram", "shop_bot", "absent")}
            assert len(seen) == 1, seen
            statement, parameters = seen[0]
            statements.add(statement)
            assert_one_index_probe_per_key(await explain(store, statement, parameters), table)
        assert len(statements) == 1, statements  # one prepared statement for every batch size
        assert_one_index_probe_per_key(await explain_generic(store, statements.pop()), table)


@pytest.mark.backends("postgresql")
async def test_postgresql_batch_updates_probe_the_primary_key_even_before_analyze(
    store: Store, backend: str
) -> None:
    # a fresh database has no statistics yet: the batch statement's updates (delivery states, dialogs) must
    # still look their few rows up by id instead of hashing a scan of the whole table
    await seed(store)
    async with store.engine.begin() as conn:
        # a seq scan costs less than 100 probes (the function's estimate) up to about 35,000 rows
        await insert_bulk_messages(conn, 10_000)
    updates = Changes(
        message_updates=[
            {"id": f"bulk-m{i}", "delivery_state": "sent", "delivery_attempts": 1} for i in (5, 7)
        ]
    )
    sql, args = pg_batch.statement(updates)
    async with store.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("SET plan_cache_mode = force_generic_plan")  # as a pooled connection's cached plan
        try:
            rows = await raw.fetch(f"EXPLAIN (FORMAT JSON) {sql}", *args)
        finally:
            await raw.execute("RESET plan_cache_mode")
    out = rows[0][0]
    plan = (json.loads(out) if isinstance(out, str) else out)[0]["Plan"]
    scans = [n for n in nodes(plan) if n.get("Relation Name") == "messages"]
    assert scans and all(n["Node Type"] != "Seq Scan" for n in scans), plan
    assert any(n.get("Index Name") == "pk_messages" for n in nodes(plan)), plan
    await store.apply(updates)
    async with store.engine.connect() as conn:
        states = (
            await conn.execute(text("SELECT delivery_state FROM messages WHERE id IN ('bulk-m5', 'bulk-m7')"))
        ).scalars()
        assert list(states) == ["sent", "sent"]
