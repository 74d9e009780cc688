"""Closing the loop with the customer (issue 18): when an operator closes the dialog the customer gets the closing
text and a question asking them to rate the answer on the line's scale; their rating is stored on the dialog,
logged in its events, shown live to the consoles and counted in /metrics. A re-rating replaces it; a score off the
scale, or a rating of someone else's dialog, changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_core.ids import new_id
from crm_core.migrate import upgrade
from crm_core.store import Changes, StaleDialog, Store
from queues.memory import MemoryBus
from queues.messages import CustomerRating, InboundMessage, OperatorCommand, Receipt, SenderProfile
from router.engine.core import Engine
from router.engine.records import dialog_from_row, dialog_row
from router.rules.dialog import evolve
from tests.conftest import FakeClock, config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


def about(dialog_id: str) -> Any:
    return lambda f: f.get("dialog_id") == dialog_id


def rated_line(scale: str = "five", comment: bool = True) -> dict[str, Any]:
    support = line("support", ["anna", "boris"])
    support["auto_replies"] = {"closing": "Thank you for writing to {line_name}!"}
    support["rating"] = {"scale": scale, "comment": comment}
    return support


async def answered_and_closed(anna: Any, v: Any) -> str:
    await v.say("where is my parcel?")
    dialog_id: str = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "It is on its way.")
    await anna.send({"type": "close", "dialog_id": dialog_id})
    await anna.expect("dialog.closed", about(dialog_id))
    return dialog_id


async def metric(d: Any, name: str) -> list[str]:
    async with d.session.get(f"{d.base}/metrics") as r:
        return [ln for ln in (await r.text()).splitlines() if ln.startswith(name)]


async def test_the_customer_is_asked_to_rate_and_the_rating_is_stored_shown_and_counted(
    tmp_path, start_daemon
):
    lines = [rated_line(), line("sales", ["vera"])]
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines)))
    anna, admin = await d.operator("anna"), await d.operator("admin")
    v = await d.visitor("support")
    dialog_id = await answered_and_closed(anna, v)

    # the closing text, then the question with the scale's buttons
    closing = await v.expect("message", lambda f: f["text"] == "Thank you for writing to Support!")
    assert "ask_rating" not in closing
    ask = await v.expect("message", lambda f: "ask_rating" in f)
    assert ask["dialog_id"] == dialog_id and ask["text"] == "Please rate the answer from 1 to 5."
    assert ask["ask_rating"] == {"scale": "five", "comment": True, "rating": None}
    assert ask["author"]["kind"] == "bot"

    await v.send({"type": "rate", "dialog_id": dialog_id, "score": 4, "comment": "Quick <b>and</b> kind"})
    assert (await v.expect("rated", about(dialog_id)))["error"] is None
    live = await anna.expect("dialog.rated", about(dialog_id))
    assert (live["rating"], live["scale"], live["comment"]) == (4, "five", "Quick <b>and</b> kind")
    assert live["rated_at"]
    await admin.expect("dialog.rated", about(dialog_id))

    view = await anna.get(f"/api/dialogs/{dialog_id}")
    assert (view["rating"], view["rating_comment"]) == (4, "Quick <b>and</b> kind") and view["rated_at"]
    events = (await anna.get(f"/api/dialogs/{dialog_id}/events"))["events"]
    assert events[-1]["kind"] == "rated"
    assert events[-1]["data"] == {"score": 4, "scale": "five", "comment": "Quick <b>and</b> kind"}
    assert [e["data"].get("kind") for e in events if e["kind"] == "auto_reply"] == ["closing", "rating"]
    assert await metric(d, "openlines_ratings_total") == [
        'openlines_ratings_total{line="support",score="4"} 1.0'
    ]

    # a re-rating replaces it (and counts under its score); the same rating again changes nothing
    await v.send({"type": "rate", "dialog_id": dialog_id, "score": 5})
    await v.expect("rated", about(dialog_id))
    await anna.expect("dialog.rated", lambda f: f["dialog_id"] == dialog_id and f["rating"] == 5)
    await v.send({"type": "rate", "dialog_id": dialog_id, "score": 5})
    await v.expect("rated", about(dialog_id))
    view = await anna.get(f"/api/dialogs/{dialog_id}")
    assert (view["rating"], view["rating_comment"]) == (5, None)
    kinds = [e["kind"] for e in (await anna.get(f"/api/dialogs/{dialog_id}/events"))["events"]]
    assert kinds.count("rated") == 2
    assert sorted(await metric(d, "openlines_ratings_total")) == [
        'openlines_ratings_total{line="support",score="4"} 1.0',
        'openlines_ratings_total{line="support",score="5"} 1.0',
    ]

    # a score off the line's scale is refused by the engine (0 is the like scale's), one off every scale by the
    # widget; neither changes the rating, and the connection stays up
    await v.send({"type": "rate", "dialog_id": dialog_id, "score": 0})
    assert (await v.expect("rated", lambda f: f["error"] is not None))["error"] == "bad_score"
    await v.send({"type": "rate", "dialog_id": dialog_id, "score": 7})
    assert (await v.expect("error", lambda f: f["code"] == "bad_field"))["message"]
    await v.send({"type": "rate", "dialog_id": dialog_id})
    await v.expect("error", lambda f: f["code"] == "missing_field")
    await v.say("still here")
    assert (await anna.get(f"/api/dialogs/{dialog_id}"))["rating"] == 5

    # after a reload the question comes back answered
    again = await d.visitor("support", token=v.token)
    asked = [m for m in (again.hello or {})["history"] if "ask_rating" in m]
    assert [m["ask_rating"] for m in asked] == [{"scale": "five", "comment": True, "rating": 5}]

    # an operator of another line does not see the dialog, nor its rating
    vera = await d.operator("vera")
    async with d.session.get(f"{d.base}/api/dialogs/{dialog_id}", headers=vera.headers) as r:
        assert r.status == 403
        assert "rating" not in await r.json()


async def test_a_visitor_cannot_rate_another_visitors_dialog(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [rated_line("like", comment=False)])))
    anna, boris = await d.operator("anna"), await d.operator("boris")
    v = await d.visitor("support")
    dialog_id = await answered_and_closed(anna, v)
    ask = await v.expect("message", lambda f: "ask_rating" in f)
    assert ask["ask_rating"] == {"scale": "like", "comment": False, "rating": None}
    assert ask["text"] == "Please rate the answer: did we help you?"

    stranger = await d.visitor("support")
    await stranger.send({"type": "rate", "dialog_id": dialog_id, "score": 0})
    # told "not found", as for a dialog that does not exist (its existence is not the stranger's to learn)
    assert (await stranger.expect("rated", about(dialog_id)))["error"] == "not_found"
    await stranger.send({"type": "rate", "dialog_id": "01NOSUCHDIALOG", "score": 1})
    assert (await stranger.expect("rated", about("01NOSUCHDIALOG")))["error"] == "not_found"
    # the rightful visitor's like is taken; a comment the line does not take is dropped
    await v.send({"type": "rate", "dialog_id": dialog_id, "score": 1, "comment": "thanks"})
    assert (await v.expect("rated", about(dialog_id)))["error"] is None
    view = await anna.get(f"/api/dialogs/{dialog_id}")
    assert (view["rating"], view["rating_comment"]) == (1, None)
    await v.absent("rated", lambda f: f["error"] is not None)
    # anna's colleague of the line may not see her closed dialog: no word of its rating reaches him either
    await anna.expect("dialog.rated", about(dialog_id))
    await boris.absent("dialog.rated", about(dialog_id), wait=0.3)
    assert await metric(d, "openlines_ratings_total") == [
        'openlines_ratings_total{line="support",score="1"} 1.0'
    ]


async def test_no_question_on_a_line_without_rating(tmp_path, start_daemon):
    support = line("support", ["anna"])
    support["auto_replies"] = {"closing": "Bye!"}
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    dialog_id = await answered_and_closed(anna, v)
    await v.expect("message", lambda f: f["text"] == "Bye!")
    await v.send({"type": "rate", "dialog_id": dialog_id, "score": 1})
    assert (await v.expect("rated", about(dialog_id)))["error"] == "rating_off"
    await v.absent("message", lambda f: "ask_rating" in f)
    assert (await anna.get(f"/api/dialogs/{dialog_id}"))["rating"] is None


# ---- the store: a rating is written on every batch path, at the version the engine read --------------------------


async def test_a_rating_is_written_on_every_batch_path_and_a_stale_one_is_refused(tmp_path, backend, store):
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    stores = [store]
    if backend == "sqlite":  # and SQLAlchemy Core's path (the writer for batches the others do not take)
        url = f"sqlite+aiosqlite:///{tmp_path / 'core.db'}"
        upgrade(url)
        stores.append(Store.open(url, batch_writer=False))
    try:
        for s in stores:
            lead = {"id": "L1", "name": "Ivan", "status": "new", "created_at": now, "updated_at": now}
            closed = {
                "id": "D1",
                "lead_id": "L1",
                "identity_id": "I1",
                "line_id": "support",
                "channel": "widget",
                "account": "support",
                "chat_id": "v1",
                "state": "closed",
                "created_at": now,
                "closed_at": now,
                "updated_at": now,
            }
            ident = {
                "id": "I1",
                "lead_id": "L1",
                "channel": "widget",
                "account": "support",
                "external_id": "v1",
                "created_at": now,
            }
            await s.apply(Changes(leads=[lead], identities=[ident], dialogs_new=[closed]))
            row = await s.get_dialog("D1")
            assert row is not None and row["version"] == 0 and row["rating"] is None
            # as the engine writes a closed dialog it rated: the whole row, at the version it read
            rated = evolve(dialog_from_row(row), rating=4, rating_comment="«ok» 🚲", rated_at=now)
            await s.apply(Changes(dialogs_changed={"D1": dialog_row(rated, now)}))
            row = await s.get_dialog("D1")
            assert row is not None
            assert (row["rating"], row["rating_comment"], row["rated_at"], row["version"]) == (
                4,
                "«ok» 🚲",
                now,
                1,
            )
            with pytest.raises(StaleDialog):  # another worker wrote it meanwhile: the batch is decided again
                await s.apply(Changes(dialogs_changed={"D1": dialog_row(evolve(rated, rating=1), now)}))
            # only the columns that changed, at the version read now
            update = {"id": "D1", "version": 1, "updated_at": now, "rating": 5, "rating_comment": None}
            await s.apply(Changes(dialogs_changed={"D1": update}))
            row = await s.get_dialog("D1")
            assert row is not None and (row["rating"], row["rating_comment"], row["version"]) == (5, None, 2)
    finally:
        for s in stores[1:]:
            await s.close()


# ---- the engine: a batch that rates and reopens, a redelivered rating ---------------------------------------------

TS = "2026-12-07T10:00:00Z"


def _said(chat_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        new_id(), "widget", "support", chat_id, f"{chat_id}:{new_id()}", text, TS, SenderProfile("V")
    )


def _rated(chat_id: str, dialog_id: str, score: int, comment: str | None = None) -> CustomerRating:
    return CustomerRating(new_id(), "widget", "support", chat_id, dialog_id, score, TS, comment)


async def test_a_rating_and_a_reopening_message_in_one_batch_keep_both_and_a_redelivery_changes_nothing(
    tmp_path, store
):
    support = {**rated_line(), "reopen_within": "10m"}
    settings = settings_from(tmp_path, config(tmp_path, [support]))
    engine = Engine(settings, store, MemoryBus(), FakeClock(datetime(2026, 12, 7, 10, 0, tzinfo=UTC)))
    await engine._reload()
    await engine.handle([_said("v1", "hello")])
    (dialog_id,) = list(engine.state.dialogs)
    await engine.handle([OperatorCommand(new_id(), "admin", "close", dialog_id, TS)])
    assert dialog_id not in engine.state.dialogs

    # two ratings in one batch: the later one wins; then the customer writes again in the same batch as a rating
    await engine.handle([_rated("v1", dialog_id, 3), _rated("v1", dialog_id, 4, "ok")])
    rating = _rated("v1", dialog_id, 5, "great")
    await engine.handle([rating, _said("v1", "one more question")])
    row = await store.get_dialog(dialog_id)
    assert row is not None and row["state"] != "closed"  # reopened…
    assert (row["rating"], row["rating_comment"]) == (5, "great")  # …with its rating kept
    assert engine.state.dialogs[dialog_id].rating == 5

    await engine.handle([rating])  # delivered again: the same values, no second event, not counted again
    kinds = [e["kind"] for e in await store.dialog_events(dialog_id)]
    assert kinds.count("rated") == 3
    counted = [
        ln for ln in engine.metrics.render().decode().splitlines() if ln.startswith("openlines_ratings_total")
    ]
    assert sorted(counted) == [
        'openlines_ratings_total{line="support",score="3"} 1.0',
        'openlines_ratings_total{line="support",score="4"} 1.0',
        'openlines_ratings_total{line="support",score="5"} 1.0',
    ]
    row = await store.get_dialog(dialog_id)
    assert row is not None and (row["rating"], row["rating_comment"]) == (5, "great")


async def test_a_rating_nobody_asked_for_is_refused_and_stores_nothing(tmp_path, store):
    settings = settings_from(tmp_path, config(tmp_path, [rated_line()]))
    bus = MemoryBus()
    engine = Engine(settings, store, bus, FakeClock(datetime(2026, 12, 7, 10, 0, tzinfo=UTC)))
    await engine._reload()
    await engine.handle([_said("v1", "hello")])
    (dialog_id,) = list(engine.state.dialogs)
    it = bus.consume("outbound.widget", "test", "t", max_wait=0)

    async def receipt_of(event_id: str) -> Receipt:
        async with asyncio.timeout(5):
            while True:
                batch = await anext(it)
                await batch.ack()
                for entry in batch.entries:
                    if isinstance(entry.event, Receipt) and entry.event.external_id == event_id:
                        return entry.event

    # the dialog is open and was never closed, so never asked: a rating sent of the visitor's own accord
    early = _rated("v1", dialog_id, 5, "self-made")
    await engine.handle([early])
    assert (await receipt_of(early.event_id)).error == "not_asked"
    row = await store.get_dialog(dialog_id)
    assert row is not None and row["rating"] is None
    assert "rated" not in [e["kind"] for e in await store.dialog_events(dialog_id)]
    # closed, the question goes out, and the same visitor's rating is taken
    await engine.handle([OperatorCommand(new_id(), "admin", "close", dialog_id, TS)])
    asked = _rated("v1", dialog_id, 4)
    await engine.handle([asked])
    assert (await receipt_of(asked.event_id)).error is None
    row = await store.get_dialog(dialog_id)
    assert row is not None and row["rating"] == 4
    await it.aclose()
