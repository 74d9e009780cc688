"""What must behave the same on SQLite and PostgreSQL below the daemon: `openlines migrate`, the duplicate-key
error the engine retries on, aware datetimes, and text PostgreSQL would refuse (NUL, over-long VARCHAR)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from crm_core.ids import new_id
from crm_core.store import Changes, DuplicateKey, StaleDialog, Store
from router.app import cli
from tests.conftest import config, line

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def conversation(external_id: str = "42") -> tuple[Changes, str]:
    """A lead, its identity and an open dialog (no messages yet)."""
    lead_id, ident_id, dialog_id = new_id(), new_id(), new_id()
    ch = Changes(
        leads=[{"id": lead_id, "name": "Ivan", "status": "new", "created_at": NOW, "updated_at": NOW}],
        identities=[
            {
                "id": ident_id,
                "lead_id": lead_id,
                "channel": "telegram",
                "account": "shop_bot",
                "external_id": external_id,
                "display_name": "@ivan",
                "profile": {"lang": "ru"},
                "created_at": NOW,
            }
        ],
        dialogs_new=[
            {
                "id": dialog_id,
                "lead_id": lead_id,
                "identity_id": ident_id,
                "line_id": "support",
                "channel": "telegram",
                "account": "shop_bot",
                "chat_id": external_id,
                "state": "queued",
                "offered_to": [],
                "excluded": [],
                "created_at": NOW,
                "updated_at": NOW,
            }
        ],
    )
    return ch, dialog_id


def message(dialog_id: str, external_id: str | None, text: str = "hello") -> dict[str, Any]:
    return {
        "id": new_id(),
        "dialog_id": dialog_id,
        "channel": "telegram",
        "account": "shop_bot",
        "external_id": external_id,
        "direction": "in",
        "author_kind": "customer",
        "text": text,
        "attachments": [],
        "created_at": NOW,
    }


def test_openlines_migrate_brings_the_configured_database_to_head(tmp_path, store_url, capsys):
    data = config(tmp_path, [line("support", ["anna"])], storage_url=store_url)
    path = tmp_path / "openlines.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert cli.main(["migrate", "--config", str(path)]) == 0
    assert cli.main(["migrate", "--config", str(path)]) == 0  # again: nothing to do, no error
    assert "up to date" in capsys.readouterr().out

    async def check() -> None:
        from crm_core.migrate import MIGRATIONS

        heads = sorted(p.stem.split("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
        s = Store.open(store_url or f"sqlite+aiosqlite:///{tmp_path / 'var' / 'openlines.db'}")
        try:
            async with s.engine.connect() as conn:
                version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            assert version == heads[-1]
            for table in (
                "leads",
                "identities",
                "dialogs",
                "messages",
                "dialog_events",
                "outbox",
                "sessions",
            ):
                assert await s.count(table) == 0
        finally:
            await s.close()

    import asyncio

    asyncio.run(check())


async def test_a_taken_idempotency_key_raises_duplicate_key_and_rolls_back(store: Store) -> None:
    ch, dialog_id = conversation()
    ch.messages = [message(dialog_id, "m-1")]
    await store.apply(ch)
    again = message(dialog_id, "m-1", "same message delivered twice")
    other = message(dialog_id, "m-2")
    with pytest.raises(DuplicateKey):
        await store.apply(Changes(messages=[other, again]))
    assert await store.count("messages") == 1  # the whole batch rolled back
    found = await store.find_messages([("telegram", "shop_bot", "m-1"), ("telegram", "shop_bot", "m-2")])
    assert (
        list(found) == [("telegram", "shop_bot", "m-1")]
        and found[("telegram", "shop_bot", "m-1")]["text"] == "hello"
    )


async def test_datetimes_come_back_aware_utc_and_json_round_trips(store: Store) -> None:
    ch, dialog_id = conversation()
    moscow = timezone(timedelta(hours=3))
    due = datetime(2026, 11, 23, 15, 0, tzinfo=moscow)
    ch.dialogs_new[0].update(retry_at=due, offered_to=["anna", "boris"], excluded=["vera"])
    await store.apply(ch)
    (d,) = await store.open_dialogs()
    assert d["retry_at"] == due and d["retry_at"].tzinfo == UTC and d["retry_at"].hour == 12
    assert d["created_at"] == NOW and d["created_at"].tzinfo == UTC
    assert d["offered_to"] == ["anna", "boris"] and d["excluded"] == ["vera"]
    assert d["no_answer_sent"] is False  # the boolean server default
    with pytest.raises(Exception, match="naive"):
        await store.apply(
            Changes(
                dialogs_changed={dialog_id: {"id": dialog_id, "retry_at": datetime(2026, 1, 1), "version": 0}}
            )
        )
    assert await store.session_login("nope", NOW) is None
    await store.create_session("h" * 64, "anna", NOW, NOW + timedelta(hours=1))
    assert await store.session_login("h" * 64, NOW + timedelta(minutes=59)) == "anna"
    assert await store.session_login("h" * 64, NOW + timedelta(hours=2)) is None


async def test_text_postgresql_would_refuse_is_stored_on_both(store: Store) -> None:
    long_id = "x" * 300  # over VARCHAR(255): SQLite keeps it whole, PostgreSQL keeps its first 255 characters
    ch, dialog_id = conversation()
    ch.leads[0]["name"] = "Iv\x00an"
    ch.leads[0]["source"] = "s" * 250  # VARCHAR(200)
    ch.messages = [message(dialog_id, long_id, "nul\x00 inside")]
    await store.apply(ch)
    found = await store.find_messages([("telegram", "shop_bot", long_id)])
    (m,) = found.values()
    assert m["text"] in ("nul inside", "nul\x00 inside")
    (lead,) = await store.search_leads("iv")
    assert lead["name"] in ("Ivan", "Iv\x00an") and lead["source"].startswith("s" * 200)
    # the same over-long key again is recognised as the same message (the engine's idempotency check)
    with pytest.raises(DuplicateKey):
        await store.apply(Changes(messages=[message(dialog_id, long_id)]))


async def test_search_is_case_insensitive_on_both(store: Store) -> None:
    ch, _ = conversation()
    ch.leads[0].update(name="Ivan SIDOROV", email="ivan@example.com", phone="+79161234567")
    await store.apply(ch)
    for query in ("sidorov", "IVAN", "Example.COM", "916123"):
        assert [x["name"] for x in await store.search_leads(query)] == ["Ivan SIDOROV"], query
    assert await store.search_leads("petrov") == []


@pytest.mark.parametrize(
    ("name", "queries"),
    [
        ("Иван Сидоров", ["сидоров", "ИВАН", "иван сид"]),
        ("Пётр Ёлкин", ["ёлкин", "ЕЛКИН", "петр"]),  # ё is е to a search
        ("Ελένη Παπαδοπούλου", ["ελένη", "ΕΛΕΝΗ", "ελενη", "παπαδοπουλου"]),
        ("İsmail Yılmaz", ["ismail", "İSMAİL", "yılmaz"]),  # Turkish dotted capital I
        ("Hans Straße", ["STRASSE", "straße"]),
    ],
)
async def test_search_folds_every_script_on_both(store: Store, name: str, queries: list[str]) -> None:
    # regression: SQLite's lower() folds ASCII only, so a Cyrillic lead was not found by its name in lower case
    ch, _ = conversation()
    ch.leads[0]["name"] = name
    await store.apply(ch)
    for query in queries:
        assert [x["name"] for x in await store.search_leads(query)] == [name], query
    assert await store.search_leads("петров") == []


async def test_search_after_a_rename_and_an_import_and_with_wildcards_on_both(store: Store) -> None:
    ch, _ = conversation()
    ch.leads[0]["name"] = "Anna"
    await store.apply(ch)
    lead_id = ch.leads[0]["id"]
    assert await store.update_lead(lead_id, {"name": "Мария 100% Кузнецова"}, NOW)
    assert [x["id"] for x in await store.search_leads("МАРИЯ")] == [lead_id]
    assert await store.search_leads("anna") == []
    assert [x["id"] for x in await store.search_leads("100%")] == [lead_id]
    assert await store.search_leads("1_0") == []  # % and _ are matched as themselves
    await store.import_contacts([{"name": "Ольга Смирнова", "phone": "+79990001122"}], now=NOW)
    assert [x["name"] for x in await store.search_leads("смирнова")] == ["Ольга Смирнова"]


async def test_one_batch_inserts_a_dialog_with_its_messages_and_updates_a_row_twice(store: Store) -> None:
    # on PostgreSQL a batch is one statement: the messages name a dialog inserted beside them, and two updates
    # of one row in one batch are merged (each column's later value wins), as sequential statements would
    ch, dialog_id = conversation()
    first, second = message(dialog_id, "m-1"), message(dialog_id, "m-2")
    ch.messages = [first, second]
    ch.events = [{"id": new_id(), "dialog_id": dialog_id, "kind": "opened", "data": {}, "at": NOW}]
    await store.apply(ch)
    later = NOW + timedelta(minutes=1)
    await store.apply(
        Changes(
            message_updates=[
                {"id": first["id"], "delivery_state": "queued", "delivery_attempts": 1},
                {"id": second["id"], "text": "edited", "edited_at": later},
                {"id": first["id"], "delivery_state": "sent", "delivered_at": later},
            ],
            dialogs_changed={
                dialog_id: {"id": dialog_id, "state": "assigned", "operator": "anna", "version": 0}
            },
        )
    )
    rows = {m["id"]: m for m in await store.dialog_messages([dialog_id])}
    assert rows[first["id"]]["delivery_state"] == "sent"
    assert rows[first["id"]]["delivery_attempts"] == 1 and rows[first["id"]]["delivered_at"] == later
    assert rows[second["id"]]["text"] == "edited" and rows[second["id"]]["edited_at"] == later
    (d,) = await store.open_dialogs()
    assert d["state"] == "assigned" and d["operator"] == "anna"
    assert await store.count("dialog_events") == 1


async def test_a_dialog_written_at_a_version_it_no_longer_has_fails_the_whole_batch(store: Store) -> None:
    # a router worker that lost its partition while it stalled: the new owner wrote the dialog meanwhile
    ch, dialog_id = conversation()
    await store.apply(ch)
    owner = {"id": dialog_id, "state": "assigned", "operator": "anna", "version": 0}
    await store.apply(Changes(dialogs_changed={dialog_id: owner}))
    stale = {"id": dialog_id, "state": "assigned", "operator": "boris", "version": 0}
    with pytest.raises(StaleDialog):
        await store.apply(
            Changes(
                dialogs_changed={dialog_id: stale}, messages=[message(dialog_id, "m-from-the-stale-worker")]
            )
        )
    (d,) = await store.open_dialogs()
    assert d["operator"] == "anna" and d["version"] == 1
    assert await store.count("messages") == 0, "nothing of the stale batch was written"
    await store.apply(Changes(dialogs_changed={dialog_id: {**owner, "state": "closed", "version": 1}}))
    assert await store.open_dialogs() == []


async def test_batches_applied_at_once_are_written_one_after_the_other(store: Store) -> None:
    # the engine's batch and the timers' outbox clean-up may overlap: on PostgreSQL both use the batch path's
    # one connection, which takes one statement at a time
    ch, dialog_id = conversation()
    await store.apply(ch)
    box = [{"id": f"o{i}", "stream": "*", "key": None, "payload": "[]", "created_at": NOW} for i in range(10)]
    await store.apply(Changes(outbox=box))
    batches = [Changes(messages=[message(dialog_id, f"m-{i}")]) for i in range(10)]
    batches += [Changes(outbox_done=[f"o{i}"]) for i in range(10)]
    await asyncio.gather(*(store.apply(b) for b in batches))
    assert await store.count("messages") == 10
    assert await store.pending_outbox() == []


async def test_a_batch_updates_each_dialog_with_only_its_changed_columns_on_both(store: Store) -> None:
    # the engine writes a changed dialog as its id, its version and the columns that changed: two dialogs of one
    # batch that changed different columns must each keep the columns the other changed (no NULLs, no mix-ups)
    first, a = conversation("1")
    second, b = conversation("2")
    for ch in (first, second):
        ch.dialogs_new[0].update(operator="anna", state="assigned", last_message_text="hi")
        await store.apply(ch)
    later = NOW + timedelta(minutes=1)
    await store.apply(
        Changes(
            dialogs_changed={
                a: {"id": a, "version": 0, "updated_at": later, "last_message_text": "where is my order?"},
                b: {"id": b, "version": 0, "updated_at": later, "state": "closed", "closed_at": later},
            }
        )
    )
    da, db = await store.get_dialog(a), await store.get_dialog(b)
    assert da is not None and db is not None
    assert (da["last_message_text"], da["state"], da["operator"], da["version"]) == (
        "where is my order?",
        "assigned",
        "anna",
        1,
    )
    assert (db["last_message_text"], db["state"], db["operator"], db["version"]) == (
        "hi",
        "closed",
        "anna",
        1,
    )
    # a stale version in one shape of the batch fails the whole batch, on both stores
    with pytest.raises(StaleDialog):
        await store.apply(
            Changes(
                dialogs_changed={
                    a: {"id": a, "version": 1, "updated_at": later, "last_message_text": "again"},
                    b: {"id": b, "version": 0, "updated_at": later, "state": "queued"},
                }
            )
        )
    da = await store.get_dialog(a)
    assert da is not None and da["last_message_text"] == "where is my order?"
