"""Business hours and auto-replies through the real daemon, with a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import FakeClock, config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores

# Friday 2026-11-27 20:00 in Moscow (UTC+3): after hours; the line opens on Monday at 09:00
FRIDAY_EVENING = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
HOURS = {
    "timezone": "Europe/Moscow",
    **{day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
}
REPLIES = {
    "welcome": "Hi {client_name}, this is {line_name}.",
    "off_hours": "We are closed now; we open {next_open}.",
    "no_answer": "Sorry for the wait, {client_name}.",
    "no_answer_after": "2m",
    "closing": "Thanks for writing to {line_name}! {operator_name}",
}


def support(**extra):
    return {**line("support", ["anna"]), "hours": HOURS, "auto_replies": REPLIES, **extra}


def bot(text_part):
    return lambda f: f["author"]["kind"] == "bot" and text_part in f["text"]


async def test_message_after_hours_is_kept_answered_once_and_offered_when_the_line_opens(
    tmp_path, start_daemon
):
    clock = FakeClock(FRIDAY_EVENING)
    settings = settings_from(tmp_path, config(tmp_path, [support()]))
    d = await start_daemon(settings, clock)
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("Are you open?")
    welcome = await v.expect("message", bot("Hi Visitor"))
    assert welcome["text"].endswith("this is Support.")
    closed = await v.expect("message", bot("We are closed"))
    assert closed["text"] == "We are closed now; we open Monday, 30 Nov at 09:00."
    queued = await anna.expect("dialog.queued")
    await anna.absent("dialog.offered", wait=0.3)  # anna is online, but the line is closed
    await v.say("Hello?")
    await v.absent("message", bot("We are closed"), wait=0.3)  # once per closed period

    # a restart during the weekend sends nothing twice
    await d.daemon.stop()
    d = await start_daemon(settings, clock)
    anna = await d.operator("anna")
    v = await d.visitor("support", token=v.token)
    await v.say("Still closed?")
    await v.absent("message", bot("We are closed"), wait=0.3)

    clock.t = datetime(2026, 11, 30, 6, 0, 1, tzinfo=UTC)  # Monday 09:00:01 in Moscow
    offer = await anna.expect("dialog.offered", timeout=3)
    assert offer["dialog_id"] == queued["dialog_id"]
    texts = [m["text"] for m in (await anna.get(f"/api/dialogs/{offer['dialog_id']}/messages"))["messages"]]
    assert texts == [
        "Are you open?",
        "Hi Visitor " + texts[1].split("Hi Visitor ")[1],
        "We are closed now; we open Monday, 30 Nov at 09:00.",
        "Hello?",
        "Still closed?",
    ]


async def test_no_answer_is_sent_once_when_nobody_answers_in_time(tmp_path, start_daemon):
    clock = FakeClock(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # Monday 11:00 in Moscow: open
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [support()])), clock)
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("question")
    await v.expect("message", bot("Hi"))
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    clock.advance(seconds=119)
    await v.absent("message", bot("Sorry"), wait=0.3)
    clock.advance(seconds=2)
    sorry = await v.expect("message", bot("Sorry for the wait"))
    assert sorry["text"] == "Sorry for the wait, " + sorry["text"].split(", ", 1)[1]
    await v.say("anyone?")
    clock.advance(minutes=5)
    await v.absent("message", bot("Sorry"), wait=0.3)  # once per wait
    # an answer ends the wait; the next unanswered question may earn another no_answer
    await anna.reply(dialog_id, "here I am")
    await v.say("thanks, one more thing")
    clock.advance(minutes=3)
    await v.expect("message", bot("Sorry for the wait"), timeout=3)
    # closing by the operator says goodbye with the operator's name
    await anna.send({"type": "close", "dialog_id": dialog_id})
    bye = await v.expect("message", bot("Thanks for writing"))
    assert bye["text"] == "Thanks for writing to Support! Anna"


async def test_on_no_answer_auto_reply_after_everyone_let_the_offer_pass(tmp_path, start_daemon):
    clock = FakeClock(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    replies = {"no_answer": "Everyone is busy, we will answer soon.", "no_answer_after": "1h"}
    lines = [
        {
            **line("support", ["anna"], mode="sequential", offer_timeout="30s"),
            "auto_replies": replies,
            "on_no_answer": "auto_reply",
        }
    ]
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines)), clock)
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("hello")
    await anna.expect("dialog.offered")
    clock.advance(seconds=31)
    await anna.expect("dialog.withdrawn", lambda f: f["reason"] == "expired", timeout=3)
    await v.expect("message", bot("Everyone is busy"), timeout=3)
    await anna.expect("dialog.queued")  # kept waiting, never dropped


async def test_on_no_answer_requeue_starts_the_round_again(tmp_path, start_daemon):
    clock = FakeClock(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    lines = [{**line("support", ["anna"], offer_timeout="30s"), "on_no_answer": "requeue"}]
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines)), clock)
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("hello")
    first = await anna.expect("dialog.offered")
    clock.advance(seconds=31)
    await anna.expect("dialog.withdrawn", timeout=3)
    again = await anna.expect("dialog.offered", timeout=3)
    assert again["dialog_id"] == first["dialog_id"]


async def test_message_soon_after_close_reopens_the_dialog_and_silence_closes_it(tmp_path, start_daemon):
    clock = FakeClock(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    lines = [
        {
            **line("support", ["anna", "boris"]),
            "reopen_within": "10m",
            "auto_close_after": "1h",
        }
    ]
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines)), clock)
    anna, boris = await d.operator("anna"), await d.operator("boris")
    v = await d.visitor("support")
    await v.say("first")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "answer")
    await anna.send({"type": "close", "dialog_id": dialog_id})
    await anna.expect("dialog.closed")
    clock.advance(minutes=5)
    await v.say("oh, and one more thing")
    back = await anna.expect("dialog.offered", timeout=3)  # the same dialog, to whoever had it
    assert back["dialog_id"] == dialog_id
    await boris.absent("dialog.offered", wait=0.2)
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned")
    clock.advance(minutes=61)  # an hour of silence
    closed = await anna.expect("dialog.closed", timeout=3)
    assert closed["dialog_id"] == dialog_id
    clock.advance(minutes=30)  # past reopen_within: a new dialog on the same lead
    await v.say("a new question")
    fresh = await anna.expect("dialog.offered", timeout=3)
    assert fresh["dialog_id"] != dialog_id
    assert fresh["dialog"]["lead"]["id"] == back["dialog"]["lead"]["id"]
