"""The customer rates the answer in VK: an inline keyboard of callback buttons on the question, a press
(message_event, or message_new with the payload on a client without callback buttons) as a CustomerRating — the real
vk-api client against the fake VK, the connector on a stub context (what it publishes is recorded)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from connectors import vk_rating
from connectors.vk import VkConnector, VkSettings
from connectors.vk_events import Skipped, translate
from queues.messages import RATE_WITHIN, CustomerRating, OutboundMessage
from tests.connectors.fake_vk import GROUP_ID, TOKEN, USER, FakeVK, Sent
from tests.connectors.stub_context import Routes, Started, Starter, binding

PEER = int(USER["id"])
DIALOG = "01JB2Q3R4S5T6V7W8X9Y0Z1A2B"
SECRET = "callback-secret-1"
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeVK]:
    f = FakeVK()
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def started(fake: FakeVK) -> AsyncIterator[Any]:
    starter = Starter()

    async def start(**block: Any) -> Started:
        settings = VkSettings.model_validate(
            {"type": "vk", "token": TOKEN, "group_id": GROUP_ID, "api_base": fake.url, "longpoll_wait": 1,
             "requests_per_second": 20, **block}
                )  # fmt: skip
        community = await starter.start("vk", lambda ctx: VkConnector([binding(settings)], ctx))
        if settings.mode == "longpoll":  # what comes from now on is polled
            await eventually(lambda: fake.polls)
        return community

    yield start
    await starter.stop()


def question(
    scale: str | None,
    text: str = "Оцените, пожалуйста, наш ответ",
    ago: timedelta = timedelta(0),
    comment: bool = False,
) -> OutboundMessage:
    ts = (datetime.now(UTC) - ago).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return OutboundMessage(
        event_id="e1", message_id=f"m-{scale}-{time.monotonic_ns()}", dialog_id=DIALOG, channel="vk",
        account="support", chat_id=str(PEER), text=text, ts=ts, author_kind="system", ask_rating=scale,
        ask_comment=comment,
    )  # fmt: skip


async def eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def ask(
    fake: FakeVK, c: Started, scale: str, ago: timedelta = timedelta(0), *, comment: bool = False
) -> Sent:
    result = await c.connector.send(question(scale, ago=ago, comment=comment))
    assert result.ok, result
    return fake.sent[-1]


def payload(score: int, scale: str = "like", dialog: str = DIALOG) -> dict[str, Any]:
    return {"rating": score, "scale": scale, "dialog": dialog}


def without_asked(p: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in p.items() if k != "asked"}


# ---- the keyboard -------------------------------------------------------------------------------------------


async def test_the_question_carries_inline_callback_buttons_on_the_lines_scale(fake, started):
    c = await started()
    before = int(time.time()) // 60
    like = await ask(fake, c, "like")
    assert like.keyboard is not None and like.keyboard["inline"] is True
    buttons = [(kind, text, without_asked(p)) for kind, text, p in like.buttons()]
    assert buttons == [("callback", "👍", payload(1)), ("callback", "👎", payload(0))]
    # when it was asked, in minutes: a press after the rating window is answered as expired
    assert all(before <= p["asked"] <= int(time.time()) // 60 for _, _, p in like.buttons())
    five = await ask(fake, c, "five")
    assert [(t, p["rating"], p["scale"]) for t, _, p in five.buttons()] == [
        ("callback", n, "five") for n in range(1, 6)
    ]
    await c.connector.send(question(None, "Anything else?"))
    assert fake.sent[-1].keyboard is None  # an ordinary message has none


async def test_a_client_without_inline_keyboards_gets_a_one_time_keyboard_of_text_buttons(fake, started):
    c = await started()
    old = {"button_actions": ["text"], "keyboard": True, "inline_keyboard": False, "lang_id": 3}
    await fake.message("hi", client_info=old)
    await eventually(lambda: c.sink.messages())
    sent = await ask(fake, c, "like")
    assert (
        sent.keyboard is not None and sent.keyboard["inline"] is False and sent.keyboard["one_time"] is True
    )
    assert [t for t, _, _ in sent.buttons()] == ["text", "text"]


async def test_with_bot_abilities_off_the_question_goes_as_plain_text(fake, started):
    c = await started()
    fake.bot_abilities = False
    result = await c.connector.send(question("like"))
    assert result.ok and fake.sent[-1].keyboard is None
    assert fake.sent[-1].text == "Оцените, пожалуйста, наш ответ"


# ---- a press -------------------------------------------------------------------------------------------------


async def test_a_press_is_one_rating_answered_with_a_snackbar_and_the_buttons_go(fake, started):
    c = await started()
    sent = await ask(fake, c, "like")
    event = await fake.press(sent, payload(1))
    await eventually(lambda: c.sink.ratings() and fake.event_answers and sent.edits)
    [rating] = c.sink.ratings()
    assert (rating.channel, rating.account, rating.chat_id, rating.dialog_id, rating.score) == (
        "vk", "support", str(PEER), DIALOG, 1,
    )  # fmt: skip
    assert rating.event_id == event["event_id"]
    [answer] = fake.event_answers
    assert answer["event_id"] == event["object"]["event_id"] and answer["peer_id"] == str(PEER)
    assert json.loads(answer["event_data"]) == {"type": "show_snackbar", "text": "Спасибо за оценку!"}
    assert sent.keyboard == {"buttons": [], "inline": True}  # nothing left to press
    assert sent.text == "Оцените, пожалуйста, наш ответ\n\nВаша оценка: 👍"
    assert not c.sink.messages()  # a press is never a customer message


async def test_a_press_from_a_client_without_callback_buttons_is_a_rating_not_a_message(fake, started):
    c = await started()
    await ask(fake, c, "five")
    # VK sends such a press as the button's label with its payload (JSON text)
    msg = await fake.message("4⭐", payload=json.dumps(payload(4, "five")))
    _ = msg
    await fake.message("and a real question")
    await eventually(lambda: c.sink.ratings() and c.sink.messages())
    [rating] = c.sink.ratings()
    assert (rating.dialog_id, rating.score, rating.chat_id) == (DIALOG, 4, str(PEER))
    assert [m.text for m in c.sink.messages()] == ["and a real question"]
    # an ordinary button's payload (VK's "Start") is still a message
    await fake.message("Начать", payload='{"command":"start"}')
    await eventually(lambda: len(c.sink.messages()) == 2)


@pytest.mark.parametrize(
    "bad",
    [
        {"rating": 7, "scale": "like", "dialog": DIALOG},
        {"rating": True, "scale": "like", "dialog": DIALOG},
        {"rating": 0, "scale": "five", "dialog": DIALOG},
        {"rating": 1, "scale": "like", "dialog": "no spaces <b>"},
        {"rating": 1, "scale": "like", "dialog": DIALOG, "extra": 1},
        {"rating": 1, "scale": "like", "dialog": DIALOG, "asked": "yesterday"},
        {"rating": 1, "scale": "like", "dialog": DIALOG, "asked": -5},
        {"rating": 1, "scale": "like", "dialog": DIALOG, "asked": 10**30},
        {"rating": 1, "scale": "like", "dialog": DIALOG, "comment": "yes"},
        {"add_comment": 1, "scale": "like", "dialog": DIALOG, "comment": True},
        {"add_comment": 7, "scale": "like", "dialog": DIALOG},
        {"command": "start"},
        "not json at all",
        None,
    ],
)
async def test_a_foreign_or_malformed_press_is_answered_and_ignored(fake, started, bad):
    c = await started()
    sent = await ask(fake, c, "like")
    await fake.press(sent, bad)
    await fake.message("still here")
    await eventually(lambda: c.sink.messages() and fake.event_answers)
    assert c.sink.ratings() == [] and sent.edits == []
    assert "event_data" not in fake.event_answers[0]  # only the button stops waiting
    # a forged rating payload in a text message is dropped, not taken as a customer message either
    await fake.message("👍", payload=json.dumps({"rating": 9, "scale": "like", "dialog": DIALOG}))
    await fake.message("after")
    await eventually(lambda: len(c.sink.messages()) == 2)
    assert [m.text for m in c.sink.messages()] == ["still here", "after"] and c.sink.ratings() == []


async def test_a_redelivered_press_is_the_same_rating_and_edits_nothing_new(fake, started):
    c = await started()
    sent = await ask(fake, c, "five")
    await fake.message("hi", client_info={"button_actions": ["text", "callback"], "keyboard": True,
                                          "inline_keyboard": True, "lang_id": 3})  # fmt: skip
    event = await fake.press(sent, payload(5, "five"))
    await eventually(lambda: c.sink.ratings() and sent.edits)
    assert sent.text.endswith("\n\nYour rating: 5⭐")
    assert json.loads(fake.event_answers[0]["event_data"])["text"] == "Thank you for your rating!"
    await fake.push(event)  # the same event again (VK retries what it thinks was not taken)
    await eventually(lambda: len(c.sink.ratings()) == 2 and len(fake.event_answers) == 2)
    first, again = c.sink.ratings()
    assert (again.event_id, again.dialog_id, again.score) == (first.event_id, first.dialog_id, first.score)
    await eventually(lambda: len(sent.edits) == 2)
    assert sent.text == "Оцените, пожалуйста, наш ответ\n\nYour rating: 5⭐"  # not a second rating line


# ---- Callback API ------------------------------------------------------------------------------------------------


async def test_a_press_through_the_callback_api_is_a_rating(fake, started):
    c = await started(mode="callback", confirmation="abc", secret=SECRET, callback_path="/vk/cb")
    routes: Routes = c.ctx.routes  # type: ignore[assignment]
    base = await routes.serve()
    sent = await ask(fake, c, "like")
    async with aiohttp.ClientSession() as http:
        forged = {**fake.press_event(sent, payload(1)), "secret": "wrong"}
        async with http.post(f"{base}/vk/cb", json=forged) as r:
            assert r.status == 403
        event = {**fake.press_event(sent, payload(0)), "secret": SECRET}
        async with http.post(f"{base}/vk/cb", json=event) as r:
            assert r.status == 200 and await r.text() == "ok"
    await eventually(lambda: c.sink.ratings() and fake.event_answers)
    [rating] = c.sink.ratings()
    assert (rating.score, rating.dialog_id) == (0, DIALOG)


# ---- pure --------------------------------------------------------------------------------------------------------


def test_translate_tells_ratings_from_messages():
    names: dict[int, Any] = {}
    pressed = {"type": "message_event", "event_id": "abc", "object": {
        "user_id": PEER, "peer_id": PEER, "event_id": "e1", "payload": payload(1), "conversation_message_id": 3}}  # fmt: skip
    assert isinstance(translate(pressed, "support", names, NOW), CustomerRating)
    chat = {**pressed, "object": {**pressed["object"], "peer_id": 2_000_000_001}}
    assert translate(chat, "support", names, NOW) == Skipped("chat", {"event_type": "message_event"})
    assert (
        vk_rating.keyboard("ten", DIALOG, NOW) is None and vk_rating.keyboard("like", "x" * 80, NOW) is None
    )
    # a press of a keyboard asked more than RATE_WITHIN before: expired, as a callback or a text button
    old = int((NOW - RATE_WITHIN - timedelta(minutes=2)).timestamp()) // 60
    late = {**pressed, "object": {**pressed["object"], "payload": {**payload(1), "asked": old}}}
    assert translate(late, "support", names, NOW) == Skipped("expired", {"event_type": "message_event"})
    fresh = {**pressed, "object": {**pressed["object"], "payload": {**payload(1), "asked": old + 4}}}
    assert isinstance(translate(fresh, "support", names, NOW), CustomerRating)
    typed = {"type": "message_new", "object": {"message": {"peer_id": PEER, "from_id": PEER, "text": "👍",
             "conversation_message_id": 9, "date": 1, "payload": json.dumps({**payload(1), "asked": old})}}}  # fmt: skip
    assert translate(typed, "support", names, NOW) == Skipped("expired", {"event_type": "message_new"})
    assert vk_rating.rated_text("Q\n\nВаша оценка: 👍", "like", 0, 0) == "Q\n\nВаша оценка: 👎"


async def test_a_press_on_a_question_older_than_the_rating_window_is_answered_as_expired(fake, started):
    c = await started()
    old = await ask(fake, c, "like", ago=RATE_WITHIN + timedelta(minutes=2))
    fresh = await ask(fake, c, "like", ago=RATE_WITHIN - timedelta(minutes=2))
    await fake.press(old, old.buttons()[0][2])
    await eventually(lambda: fake.event_answers and old.edits)
    assert c.sink.ratings() == []  # nothing the engine would refuse is published
    data = json.loads(fake.event_answers[0]["event_data"])
    assert data == {"type": "show_snackbar", "text": "Срок этого вопроса истёк: оценку уже нельзя принять."}
    assert old.keyboard == {"buttons": [], "inline": True} and old.text == "Оцените, пожалуйста, наш ответ"
    await fake.press(fresh, fresh.buttons()[1][2])
    await eventually(lambda: c.sink.ratings() and fresh.edits)
    assert [r.score for r in c.sink.ratings()] == [0]


# ---- a comment with the score (a line with rating.comment) ----------------------------------------------------------


async def test_a_rated_question_offers_a_comment_and_the_next_message_is_it(fake, started):
    c = await started()
    sent = await ask(fake, c, "like", comment=True)
    assert all(p["comment"] is True for _, _, p in sent.buttons())
    await fake.press(sent, sent.buttons()[0][2])
    await eventually(lambda: c.sink.ratings() and sent.edits)
    assert sent.text == "Оцените, пожалуйста, наш ответ\n\nВаша оценка: 👍"
    [(kind, label, data)] = sent.buttons()  # the scores gave way to one button
    assert (kind, label) == ("callback", "✏️ Добавить комментарий")
    assert without_asked(data) == {"add_comment": 1, "scale": "like", "dialog": DIALOG}

    await fake.press(sent, data)
    await eventually(lambda: len(fake.sent) == 2)
    assert fake.sent[-1].text == "Напишите, пожалуйста, комментарий следующим сообщением."
    assert len(c.sink.ratings()) == 1  # the button alone rates nothing
    await fake.message("Быстро и вежливо <b>спасибо</b>")
    await eventually(lambda: len(c.sink.ratings()) == 2 and len(fake.sent) == 3)
    rating = c.sink.ratings()[1]
    assert (rating.dialog_id, rating.score, rating.comment) == (DIALOG, 1, "Быстро и вежливо <b>спасибо</b>")
    assert c.sink.messages() == []  # never also a customer message
    assert fake.sent[-1].text == "Спасибо за комментарий!"
    await eventually(lambda: sent.keyboard == {"buttons": [], "inline": True})
    await fake.message("а теперь вопрос")  # the next one is theirs again
    await eventually(lambda: c.sink.messages())
    assert [m.text for m in c.sink.messages()] == ["а теперь вопрос"] and len(c.sink.ratings()) == 2


async def test_add_a_comment_as_a_text_button_prompts_too_and_an_expired_one_does_not(fake, started):
    c = await started()
    sent = await ask(fake, c, "five", comment=True)
    minutes = sent.buttons()[0][2]["asked"]
    pressed = {"add_comment": 5, "scale": "five", "dialog": DIALOG, "asked": minutes}
    await fake.message("✏️ Добавить комментарий", payload=json.dumps(pressed))
    await eventually(lambda: len(fake.sent) == 2)
    assert fake.sent[-1].text == "Напишите, пожалуйста, комментарий следующим сообщением."
    photo = {"type": "photo", "photo": {"id": 1, "owner_id": 5001, "sizes": [
        {"type": "x", "url": "https://example.invalid/p.jpg", "width": 1, "height": 1}]}}  # fmt: skip
    await fake.message("here is the receipt", attachments=[photo])  # a file: theirs, not a comment
    await eventually(lambda: c.sink.messages())
    assert c.sink.messages()[0].attachments and c.sink.ratings() == []
    await fake.message("Good")
    await eventually(lambda: c.sink.ratings())
    assert [(r.score, r.comment) for r in c.sink.ratings()] == [(5, "Good")] and len(c.sink.messages()) == 1

    old = await ask(fake, c, "like", ago=RATE_WITHIN + timedelta(hours=1), comment=True)
    late = {"add_comment": 1, "scale": "like", "dialog": DIALOG, "asked": old.buttons()[0][2]["asked"]}
    await fake.press(old, late)
    await eventually(lambda: fake.event_answers)
    data = json.loads(fake.event_answers[-1]["event_data"])
    assert data["text"] == "Срок этого вопроса истёк: оценку уже нельзя принять."
    sent_before = len(fake.sent)
    await fake.message("not a comment")
    await eventually(lambda: len(c.sink.messages()) == 2)
    assert len(fake.sent) == sent_before and c.sink.messages()[1].text == "not a comment"


# ---- the whole way: the real daemon asks on close, the press is stored on the dialog -----------------------------


async def test_on_close_the_customer_rates_with_callback_buttons_and_the_console_sees_it(
    tmp_path, fake, start_daemon
):
    from tests.conftest import config, line, settings_from

    block = {"type": "vk", "token": TOKEN, "group_id": GROUP_ID, "api_base": fake.url, "longpoll_wait": 1}
    support = {**line("support", ["anna"]), "channels": [block], "rating": {"scale": "five"}}
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
    anna = await d.operator("anna")
    await eventually(lambda: fake.polls)
    await fake.message("Where is my parcel?")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "It is on its way.")
    await anna.send({"type": "close", "dialog_id": dialog_id})
    await anna.expect("dialog.closed", lambda f: f.get("dialog_id") == dialog_id)

    await eventually(lambda: any(s.keyboard for s in fake.sent), timeout=10)
    asked = next(s for s in fake.sent if s.keyboard)
    assert [without_asked(p) for _, _, p in asked.buttons()] == [
        payload(n, "five", dialog_id) for n in range(1, 6)
    ]
    await fake.press(asked, asked.buttons()[4][2])
    rated = await anna.expect("dialog.rated", lambda f: f.get("dialog_id") == dialog_id)
    assert rated["rating"] == 5 and (await anna.get(f"/api/dialogs/{dialog_id}"))["rating"] == 5
    await eventually(lambda: fake.event_answers and asked.edits)
    assert asked.keyboard == {"buttons": [], "inline": True}
