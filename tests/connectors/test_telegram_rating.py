"""The customer rates the answer in Telegram: an inline keyboard on the question, a press as a CustomerRating —
the real aiogram client against the fake Bot API, the connector on a stub context (what it publishes is recorded)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from connectors import telegram_rating
from connectors.telegram import TelegramConnector, TelegramSettings
from connectors.telegram_updates import ALLOWED_UPDATES
from queues.messages import RATE_WITHIN, OutboundMessage
from tests.connectors.fake_telegram import USER, FakeTelegram, Sent
from tests.connectors.stub_context import Routes, Started, Starter, binding

TOKEN = "123:abc"
SECRET = "s3cret-token_1"
DIALOG = "01JB2Q3R4S5T6V7W8X9Y0Z1A2B"  # our ids: 26 characters


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    f = FakeTelegram()
    f.add_bot(TOKEN)
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def started(fake: FakeTelegram) -> AsyncIterator[Any]:
    starter = Starter()

    async def start(**block: Any) -> Started:
        settings = TelegramSettings.model_validate(
            {"type": "telegram", "token": TOKEN, "api_base": fake.url, "polling_timeout": 1, **block}
        )
        return await starter.start("telegram", lambda ctx: TelegramConnector([binding(settings)], ctx))

    yield start
    await starter.stop()


def base36(n: int) -> str:
    out = ""
    while True:
        n, d = divmod(n, 36)
        out = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + out
        if n == 0:
            return out


def now_iso(ago: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) - ago).isoformat(timespec="milliseconds").replace("+00:00", "Z")


ASKED = "2026-12-07T02:00:00.000Z"
AT = base36(int(datetime(2026, 12, 7, 2, 0, tzinfo=UTC).timestamp()) // 60)  # ASKED in callback_data


def question(
    scale: str | None,
    text: str = "Please rate our answer",
    dialog_id: str = DIALOG,
    ts: str = ASKED,
    comment: bool = False,
) -> OutboundMessage:
    return OutboundMessage(
        event_id="e1", message_id=f"m-{scale}-{dialog_id[:4]}-{ts}-{comment}", dialog_id=dialog_id,
        channel="telegram", account="support", chat_id=str(USER["id"]), text=text, ts=ts, author_kind="system",
        ask_rating=scale, ask_comment=comment,
    )  # fmt: skip


async def eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def ask(
    fake: FakeTelegram, bot: Started, scale: str, ts: str | None = None, *, comment: bool = False
) -> Sent:
    result = await bot.connector.send(question(scale, ts=ts or now_iso(), comment=comment))
    assert result.ok, result
    return fake.bots[TOKEN].sent[-1]


def answers_of(fake: FakeTelegram, qid: str) -> list[dict[str, Any]]:
    return [a for a in fake.bots[TOKEN].answers if a["callback_query_id"] == qid]


# ---- the keyboard -------------------------------------------------------------------------------------------


async def test_the_question_carries_thumbs_or_five_scores_and_polling_asks_for_presses(fake, started):
    bot = await started()
    like = await ask(fake, bot, "like", ASKED)
    assert like.text == "Please rate our answer"
    assert like.buttons() == [("👍", f"rt:l1:{DIALOG}:{AT}"), ("👎", f"rt:l0:{DIALOG}:{AT}")]
    five = await ask(fake, bot, "five", ASKED)
    assert [d for _, d in five.buttons()] == [f"rt:f{n}:{DIALOG}:{AT}" for n in range(1, 6)]
    assert [t for t, _ in five.buttons()] == ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]
    assert all(len(d.encode()) <= 64 for _, d in like.buttons() + five.buttons())

    plain = await bot.connector.send(question(None, "Anything else?"))  # an ordinary message: no keyboard
    assert plain.ok and fake.bots[TOKEN].sent[-1].reply_markup is None
    assert "callback_query" in ALLOWED_UPDATES
    await fake.wait_for(lambda: any(c.method == "getupdates" for c in fake.bots[TOKEN].calls))
    polls = [c for c in fake.bots[TOKEN].calls if c.method == "getupdates"]
    assert "callback_query" in polls[-1].params["allowed_updates"]


def test_a_scale_or_id_that_cannot_be_shown_gives_no_keyboard():
    now = datetime.now(UTC)
    assert telegram_rating.keyboard("stars10", DIALOG, now) is None
    assert telegram_rating.keyboard("like", "x" * 60, now) is None  # would not fit Telegram's 64 bytes
    assert telegram_rating.keyboard("like", "bad:id", now) is None
    assert telegram_rating.rated_text("Q\n\nYour rating: 👍", "like", 0, "en") == "Q\n\nYour rating: 👎"
    assert telegram_rating.rated_text("Q", "five", 3, "ru") == "Q\n\nВаша оценка: 3⭐"


# ---- a press -------------------------------------------------------------------------------------------------


async def test_a_press_is_one_rating_answered_in_the_customers_language_and_the_buttons_go(fake, started):
    bot = await started()
    sent = await ask(fake, bot, "like")
    update_id, qid = await fake.press(TOKEN, sent, f"rt:l1:{DIALOG}")
    await eventually(lambda: bot.sink.ratings() and answers_of(fake, qid) and sent.edits)
    [rating] = bot.sink.ratings()
    assert (rating.channel, rating.account, rating.chat_id, rating.dialog_id, rating.score) == (
        "telegram", "support", str(USER["id"]), DIALOG, 1,
    )  # fmt: skip
    assert rating.event_id == f"tg:support:cb:{qid}" and rating.comment is None
    assert answers_of(fake, qid)[0]["text"] == "Спасибо!"  # USER's Telegram speaks Russian
    assert sent.reply_markup is None  # nothing left to press
    assert sent.text == "Please rate our answer\n\nВаша оценка: 👍"

    # Telegram sends the update again (a lost confirmation): the same event, nothing new for the customer
    await fake.redeliver(TOKEN, update_id)
    await eventually(lambda: len(bot.sink.ratings()) == 2 and len(answers_of(fake, qid)) == 2)
    again = bot.sink.ratings()[1]
    assert replace(again, ts=rating.ts) == rating  # the same event id, dialog, chat and score
    await asyncio.sleep(0.2)
    assert len(sent.edits) == 1 and sent.text == "Please rate our answer\n\nВаша оценка: 👍"
    assert not bot.sink.messages()  # a press is never a customer message


async def test_a_five_score_in_english_and_an_offset_that_moves_past_the_press(fake, started):
    bot = await started()
    sent = await ask(fake, bot, "five")
    english = {**USER, "language_code": "en-GB"}
    await fake.press(TOKEN, sent, f"rt:f4:{DIALOG}", user=english)
    _, after = await fake.message(TOKEN, "one more question")
    await eventually(lambda: bot.sink.ratings() and bot.sink.messages() and sent.edits)
    assert [r.score for r in bot.sink.ratings()] == [4]
    assert fake.bots[TOKEN].answers[0]["text"] == "Thank you!"
    assert sent.text.endswith("Your rating: 4⭐")
    # the press and the message both confirmed: the offset moved past them
    last = max(u["update_id"] for u in fake.delivered(TOKEN))
    await fake.wait_for(lambda: fake.bots[TOKEN].offsets()[-1] == last + 1)


@pytest.mark.parametrize(
    "data",
    [
        "hello",
        "",
        "rt:l7:" + DIALOG,
        "rt:f0:" + DIALOG,
        "rt:x1:" + DIALOG,
        "rt:l1:",
        "rt:l1:bad id",
        "rt:l1",
        f"rt:l1:{DIALOG}:",
        f"rt:l1:{DIALOG}:XY",
        f"rt:l1:{DIALOG}:{AT}:1",
    ],
)
async def test_a_foreign_or_malformed_press_is_answered_and_ignored(fake, started, data):
    bot = await started()
    sent = await ask(fake, bot, "like")
    _, qid = await fake.press(TOKEN, sent, data)
    await eventually(lambda: answers_of(fake, qid))
    assert "text" not in answers_of(fake, qid)[0]  # only the spinner stops
    await fake.message(TOKEN, "still here")  # the bot goes on
    await eventually(lambda: bot.sink.messages())
    assert bot.sink.ratings() == [] and sent.edits == [] and sent.buttons()


async def test_a_press_without_a_message_or_in_a_group_makes_no_rating(fake, started):
    bot = await started()
    sent = await ask(fake, bot, "like")
    _, inline = await fake.press(TOKEN, None, f"rt:l1:{DIALOG}")
    group = {"id": -100500, "type": "supergroup", "title": "Shop fans"}
    _, grouped = await fake.press(TOKEN, sent, f"rt:l0:{DIALOG}", chat=group)
    await eventually(lambda: answers_of(fake, inline) and answers_of(fake, grouped))
    assert bot.sink.ratings() == [] and sent.edits == []


# ---- an expired question ----------------------------------------------------------------------------------------


async def test_a_press_on_a_question_older_than_the_rating_window_is_answered_as_expired(fake, started):
    bot = await started()
    old = await ask(fake, bot, "like", now_iso(RATE_WITHIN + timedelta(minutes=2)))
    fresh = await ask(fake, bot, "like", now_iso(RATE_WITHIN - timedelta(minutes=2)))
    _, late = await fake.press(TOKEN, old, old.buttons()[0][1])
    _, in_time = await fake.press(TOKEN, fresh, fresh.buttons()[1][1])
    await eventually(lambda: answers_of(fake, late) and old.edits and bot.sink.ratings())
    [rating] = bot.sink.ratings()  # only the question still in its window makes a rating
    assert rating.score == 0
    [answer] = answers_of(fake, late)
    assert answer["text"] == "Срок этого вопроса истёк: оценку уже нельзя принять." and answer["show_alert"]
    assert old.reply_markup is None and old.text == "Please rate our answer"  # no rating shown as chosen
    await eventually(lambda: answers_of(fake, in_time) and fresh.edits)
    assert answers_of(fake, in_time)[0]["text"] == "Спасибо!"


async def test_a_keyboard_from_before_the_asked_time_is_judged_by_its_messages_date(fake, started):
    bot = await started()
    sent = await ask(fake, bot, "five")
    week_ago = int(time.time() - RATE_WITHIN.total_seconds() - 60)
    english = {**USER, "language_code": "en"}
    _, late = await fake.press(TOKEN, sent, f"rt:f5:{DIALOG}", date=week_ago, user=english)
    _, hidden = await fake.press(TOKEN, sent, f"rt:f2:{DIALOG}", date=0)  # Telegram no longer shows the date
    await eventually(lambda: answers_of(fake, late) and answers_of(fake, hidden) and bot.sink.ratings())
    assert (
        answers_of(fake, late)[0]["text"] == "This question has expired: the rating cannot be taken any more."
    )
    assert [r.score for r in bot.sink.ratings()] == [2]  # an age it cannot tell is left to the engine


# ---- a comment with the score (a line with rating.comment) ----------------------------------------------------------


async def test_a_rated_question_offers_a_comment_whose_reply_is_the_same_rating_with_it(fake, started):
    bot = await started()
    sent = await ask(fake, bot, "like", comment=True)
    assert [d.rsplit(":", 1)[0] for _, d in sent.buttons()] == [f"rt:L1:{DIALOG}", f"rt:L0:{DIALOG}"]
    await fake.press(TOKEN, sent, sent.buttons()[0][1])
    await eventually(lambda: bot.sink.ratings() and sent.edits)
    assert sent.text == "Please rate our answer\n\nВаша оценка: 👍"
    [(label, data)] = sent.buttons()  # the scores gave way to one button
    assert label == "✏️ Добавить комментарий" and data.startswith(f"rc:l1:{DIALOG}:")

    _, qid = await fake.press(TOKEN, sent, data)
    await eventually(lambda: answers_of(fake, qid) and len(fake.bots[TOKEN].sent) == 2)
    prompt = fake.bots[TOKEN].sent[-1]
    assert prompt.text == "Напишите, пожалуйста, комментарий в ответ на это сообщение."
    assert prompt.reply_markup == {"force_reply": True, "input_field_placeholder": "Ваш комментарий"}
    assert len(bot.sink.ratings()) == 1  # the button alone rates nothing

    _, comment_id = await fake.reply(TOKEN, prompt, "Fast and <b>polite</b>")
    await eventually(lambda: len(bot.sink.ratings()) == 2 and len(fake.bots[TOKEN].sent) == 3)
    rating = bot.sink.ratings()[1]
    assert (rating.dialog_id, rating.score, rating.comment) == (DIALOG, 1, "Fast and <b>polite</b>")
    assert rating.event_id == f"tg:support:{USER['id']}:{comment_id}:comment"
    assert bot.sink.messages() == []  # the comment is never also a customer message
    thanks = fake.bots[TOKEN].sent[-1]
    assert thanks.text == "Спасибо за комментарий!" and thanks.reply_to == comment_id
    await eventually(lambda: sent.reply_markup is None)  # nothing left to press under the question

    # an edit of the comment replaces it; a reply to another of the bot's messages is an ordinary message
    await fake.edit(TOKEN, comment_id, "Fast, polite, and right", edit_date=int(time.time()) + 5,
                    reply_to_message={"message_id": prompt.message_id, "date": int(time.time()), "text": prompt.text,
                                      "chat": {"id": USER["id"], "type": "private"},
                                      "from": {"id": fake.bots[TOKEN].id, "is_bot": True, "first_name": "Shop"}})  # fmt: skip
    await fake.reply(TOKEN, thanks, "And one more question")
    await eventually(lambda: len(bot.sink.ratings()) == 3 and bot.sink.messages())
    assert bot.sink.ratings()[2].comment == "Fast, polite, and right"
    assert [m.text for m in bot.sink.messages()] == ["And one more question"]


async def test_a_reply_that_comes_before_the_prompts_send_returns_is_the_comment(fake, started):
    bot = await started()
    sent = await ask(fake, bot, "like", comment=True)
    await fake.press(TOKEN, sent, sent.buttons()[1][1])
    await eventually(lambda: sent.buttons() and sent.buttons()[0][1].startswith("rc:"))
    fake.bots[TOKEN].answer_late = 1.5  # sendMessage answers late: the customer replies meanwhile
    await fake.press(TOKEN, sent, sent.buttons()[0][1])
    await eventually(lambda: len(fake.bots[TOKEN].sent) == 2)
    prompt = fake.bots[TOKEN].sent[-1]
    await fake.reply(TOKEN, prompt, "quick words")
    await eventually(lambda: len(bot.sink.ratings()) == 2)
    assert (bot.sink.ratings()[1].score, bot.sink.ratings()[1].comment) == (0, "quick words")
    assert bot.sink.messages() == []


async def test_without_rating_comment_no_comment_is_offered(fake, started):
    bot = await started()
    sent = await ask(fake, bot, "five")
    assert all(d.startswith("rt:f") for _, d in sent.buttons())
    await fake.press(TOKEN, sent, sent.buttons()[2][1])
    await eventually(lambda: bot.sink.ratings() and sent.edits)
    assert sent.reply_markup is None and len(fake.bots[TOKEN].sent) == 1


async def test_a_reply_to_a_prompt_after_the_rating_window_is_an_ordinary_message(fake, started):
    bot = await started()
    operator = await ask(fake, bot, "like")  # an ordinary message of the bot's: a reply to it reads no store
    checkpoints = bot.ctx.checkpoints
    start = checkpoints.reads  # the offset, read when polling started
    await fake.reply(TOKEN, operator, "about your answer")
    await eventually(lambda: bot.sink.messages())
    assert checkpoints.reads == start and bot.sink.ratings() == []

    prompt = await bot.connector.send(question(None, "Please write your comment in reply to this message."))
    assert prompt.ok
    prompt_sent = fake.bots[TOKEN].sent[-1]  # a prompt (by its text) that waited past the window
    weeks_ago = int(time.time() - RATE_WITHIN.total_seconds() - 3600)
    await checkpoints.set(
        "support", f"comment:{USER['id']}", f"{prompt_sent.message_id} 1 {DIALOG} 1 {weeks_ago}"
    )
    await fake.reply(TOKEN, prompt_sent, "late words")
    await eventually(lambda: len(bot.sink.messages()) == 2)
    assert checkpoints.reads == start + 1  # looked up, found too old
    assert bot.sink.ratings() == [] and bot.sink.messages()[1].text == "late words"
    # a photo in reply to the prompt is the customer's message (a comment would lose the photo)
    fresh = int(time.time() - 60)
    await checkpoints.set(
        "support", f"comment:{USER['id']}", f"{prompt_sent.message_id} 1 {DIALOG} 0 {fresh}"
    )
    quoted = {"message_id": prompt_sent.message_id, "date": fresh, "text": prompt_sent.text,
              "chat": {"id": USER["id"], "type": "private"},
              "from": {"id": fake.bots[TOKEN].id, "is_bot": True, "first_name": "Shop"}}  # fmt: skip
    photo = [{"file_id": "ph1", "file_unique_id": "u1", "width": 1, "height": 1}]
    await fake.message(TOKEN, None, photo=photo, caption="the receipt", reply_to_message=quoted)
    await eventually(lambda: len(bot.sink.messages()) == 3)
    assert bot.sink.ratings() == [] and bot.sink.messages()[2].attachments
    # what a prompt waits for is in the checkpoints, not only in memory: after a restart its reply still counts
    fresh = int(time.time() - 60)
    await checkpoints.set(
        "support", f"comment:{USER['id']}", f"{prompt_sent.message_id} 1 {DIALOG} 0 {fresh}"
    )
    await fake.reply(TOKEN, prompt_sent, "kept across a restart")
    await eventually(lambda: bot.sink.ratings())
    assert [(r.dialog_id, r.score, r.comment) for r in bot.sink.ratings()] == [
        (DIALOG, 0, "kept across a restart")
    ]
    # a comment button pressed after the window: expired, no prompt
    old = await ask(fake, bot, "like", now_iso(RATE_WITHIN + timedelta(hours=1)), comment=True)
    data = old.buttons()[0][1].replace("rt:L1", "rc:l1")
    await eventually(
        lambda: len(fake.bots[TOKEN].sent) == 4
    )  # the thanks for the comment above, then the question
    _, qid = await fake.press(TOKEN, old, data)
    await eventually(lambda: answers_of(fake, qid))
    assert answers_of(fake, qid)[0]["text"].startswith("Срок этого вопроса истёк")
    assert len(fake.bots[TOKEN].sent) == 4  # no prompt went out


# ---- webhook ---------------------------------------------------------------------------------------------------


async def test_a_press_by_webhook_is_a_rating_and_a_bad_secret_is_refused(fake, started):
    bot = await started(mode="webhook", webhook_url="https://shop.example/tg/hook", secret_token=SECRET)
    routes: Routes = bot.ctx.routes  # type: ignore[assignment]
    base = await routes.serve()
    await fake.wait_for(lambda: fake.bots[TOKEN].webhook is not None)
    assert "callback_query" in str(fake.bots[TOKEN].webhook["allowed_updates"])
    sent = await ask(fake, bot, "like")
    _, qid = await fake.press(TOKEN, sent, f"rt:l0:{DIALOG}")
    update = fake.bots[TOKEN].updates[-1]  # Telegram would post it: the test does
    async with aiohttp.ClientSession() as http:
        headers = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        async with http.post(f"{base}/tg/hook", json=update, headers=headers) as r:
            assert r.status == 401
        assert bot.sink.ratings() == []
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(f"{base}/tg/hook", json=update, headers=headers) as r:
            assert r.status == 200
        forged = {
            "update_id": 999,
            "callback_query": {**update["callback_query"], "id": "q2", "data": "rt:zz"},
        }
        async with http.post(f"{base}/tg/hook", json=forged, headers=headers) as r:
            assert r.status == 200
    [rating] = bot.sink.ratings()
    assert (rating.dialog_id, rating.score, rating.chat_id) == (DIALOG, 0, str(USER["id"]))
    await eventually(lambda: answers_of(fake, qid) and answers_of(fake, "q2") and sent.edits)
    assert answers_of(fake, qid)[0]["text"] == "Спасибо!" and sent.reply_markup is None
    assert "text" not in answers_of(fake, "q2")[0]


# ---- the whole way: the real daemon asks on close, the press is stored on the dialog -----------------------------


async def closed_and_asked(
    tmp_path, fake, start_daemon, rating: dict[str, Any]
) -> tuple[Any, Any, str, Sent]:
    """A real daemon on a line with `rating`: a customer writes, anna answers and closes; the question asked."""
    from tests.conftest import config, line, settings_from

    support = {**line("support", ["anna"]), "channels": [
        {"type": "telegram", "token": TOKEN, "api_base": fake.url, "polling_timeout": 1}]}  # fmt: skip
    support["rating"] = rating
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support])))
    anna = await d.operator("anna")
    await fake.message(TOKEN, "Where is my parcel?")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "It is on its way.")
    await anna.send({"type": "close", "dialog_id": dialog_id})
    await anna.expect("dialog.closed", lambda f: f.get("dialog_id") == dialog_id)
    await fake.wait_for(lambda: any(s.reply_markup for s in fake.bots[TOKEN].sent), timeout=10)
    return d, anna, dialog_id, next(s for s in fake.bots[TOKEN].sent if s.reply_markup)


async def test_on_close_the_customer_rates_with_the_keyboard_and_the_console_sees_it(
    tmp_path, fake, start_daemon
):
    _, anna, dialog_id, asked = await closed_and_asked(tmp_path, fake, start_daemon, {"scale": "like"})
    assert [d.rsplit(":", 1)[0] for _, d in asked.buttons()] == [f"rt:l1:{dialog_id}", f"rt:l0:{dialog_id}"]
    _, qid = await fake.press(TOKEN, asked, asked.buttons()[1][1])
    rated = await anna.expect("dialog.rated", lambda f: f.get("dialog_id") == dialog_id)
    assert rated["rating"] == 0
    assert (await anna.get(f"/api/dialogs/{dialog_id}"))["rating"] == 0
    await eventually(lambda: answers_of(fake, qid) and asked.edits)
    assert asked.reply_markup is None


async def test_on_a_line_that_takes_comments_the_customer_comments_and_the_console_sees_it(
    tmp_path, fake, start_daemon
):
    rating = {"scale": "five", "comment": True}
    d, anna, dialog_id, asked = await closed_and_asked(tmp_path, fake, start_daemon, rating)
    await fake.press(TOKEN, asked, asked.buttons()[3][1])  # 4⭐
    assert (await anna.expect("dialog.rated", lambda f: f.get("dialog_id") == dialog_id))["rating"] == 4
    await eventually(lambda: asked.buttons() and asked.buttons()[0][1].startswith("rc:"))
    await fake.press(TOKEN, asked, asked.buttons()[0][1])
    await fake.wait_for(
        lambda: any(s.reply_markup and "force_reply" in s.reply_markup for s in fake.bots[TOKEN].sent)
    )
    prompt = next(s for s in fake.bots[TOKEN].sent if s.reply_markup and "force_reply" in s.reply_markup)
    store = d.daemon.store
    for _ in range(100):  # the customer reads the prompt first: by then the bot knows what it waits for
        if await store.get_checkpoint("telegram", "support", f"comment:{USER['id']}"):
            break
        await asyncio.sleep(0.05)
    await fake.reply(TOKEN, prompt, "Courier was late, support was great")
    rated = await anna.expect("dialog.rated", lambda f: f.get("dialog_id") == dialog_id and f.get("comment"))
    assert rated["rating"] == 4 and rated["comment"] == "Courier was late, support was great"
    row = await anna.get(f"/api/dialogs/{dialog_id}")
    assert row["rating"] == 4 and row["rating_comment"] == "Courier was late, support was great"
    messages = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    assert not any(
        m["text"] == "Courier was late, support was great"
        for m in messages
        if m["author"]["kind"] == "customer"
    )
