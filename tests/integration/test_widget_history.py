"""The widget's history of a returning visitor (store + connector): every dialog of theirs on the line, a page at a
time, newest first; public messages only; and an operator's files, with links only that visitor can open."""

from __future__ import annotations

import aiohttp

from tests.clients import Visitor
from tests.conftest import Running, config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


def _texts(messages: list[dict]) -> list[str]:
    return [m["text"] for m in messages]


async def _history(v: Visitor, before: str) -> dict:
    await v.send({"type": "history", "before": before})
    return await v.expect("history", lambda f: f.get("before") == before)


async def _two_dialogs(d: Running) -> tuple[Visitor, list[str], str, str]:
    """A visitor with a closed dialog (a note in it) and an open one; the public texts oldest first."""
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("first question")
    first = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(first, "first answer")
    await anna.reply(first, "NOTE: a regular, be nice", visibility="internal")
    await anna.send({"type": "close", "dialog_id": first})
    await anna.expect("dialog.closed")
    await v.say("second question")
    second = (await anna.expect("dialog.offered"))["dialog_id"]
    for i in range(1, 5):
        await anna.reply(second, f"answer {i}")
    await anna.reply(second, "NOTE: promised a discount", visibility="internal")
    for _ in range(4):
        await v.expect("message")
    await v.close()
    await anna.close()
    public = ["first question", "first answer", "second question"] + [f"answer {i}" for i in range(1, 5)]
    return v, public, first, second


async def test_hello_shows_every_dialog_of_the_visitor_and_history_pages_back_to_the_first(
    tmp_path, start_daemon
):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    v, public, first, second = await _two_dialogs(d)

    # the whole history fits a page: both dialogs, oldest first, each message naming its dialog
    back = await d.visitor("support", token=v.token)
    assert back.hello is not None
    assert _texts(back.hello["history"]) == public
    assert [m["dialog_id"] for m in back.hello["history"]] == [first] * 2 + [second] * 5
    assert back.hello["history_more"] is False
    assert back.hello["dialog_id"] == second
    await back.close()

    # a page of three: the newest on hello, then older pages until the first message
    d.daemon.connectors["widget"].history_page = 3  # type: ignore[attr-defined]
    paged = await d.visitor("support", token=v.token)
    assert paged.hello is not None
    assert _texts(paged.hello["history"]) == public[-3:]
    assert paged.hello["history_more"] is True
    older = await _history(paged, paged.hello["history"][0]["id"])
    assert _texts(older["messages"]) == public[-6:-3] and older["more"] is True
    oldest = await _history(paged, older["messages"][0]["id"])
    assert _texts(oldest["messages"]) == public[:1] and oldest["more"] is False
    assert oldest["messages"][0]["client_msg_id"]  # the visitor's own keep the id their browser chose
    nothing = await _history(paged, oldest["messages"][0]["id"])
    assert nothing["messages"] == [] and nothing["more"] is False


async def test_internal_notes_never_reach_the_visitor_live_on_hello_or_in_older_pages(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("hello")
    dialog = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog, "NOTE: check the order first", visibility="internal")
    await anna.reply(dialog, "hi there")
    live = await v.expect("message")
    assert live["text"] == "hi there" and live["dialog_id"] == dialog
    await v.absent("message", wait=0.3)

    d.daemon.connectors["widget"].history_page = 1  # type: ignore[attr-defined]
    back = await d.visitor("support", token=v.token)
    assert back.hello is not None
    seen = list(back.hello["history"])
    more = back.hello["history_more"]
    while more:
        page = await _history(back, seen[0]["id"])
        seen[:0] = page["messages"]
        more = page["more"]
    assert _texts(seen) == ["hello", "hi there"]


async def test_another_visitor_gets_nothing_of_this_visitors_history(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    v, public, _, _ = await _two_dialogs(d)
    back = await d.visitor("support", token=v.token)
    assert back.hello is not None
    newest = back.hello["history"][-1]["id"]
    stranger = await d.visitor("support")
    assert stranger.hello is not None and stranger.hello["history"] == []
    assert stranger.hello["history_more"] is False
    page = await _history(stranger, newest)  # an id of someone else's message pages nothing of theirs
    assert page["messages"] == [] and page["more"] is False


async def test_history_frame_refusals(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    v = Visitor(d.session, d.base, "support")
    v.ws = await d.session.ws_connect(f"{d.base.replace('http', 'ws')}/widget/ws?line=support")
    v._start_reader()
    await v.send({"type": "history", "before": "01J0000000000000000000000"})
    assert (await v.expect("error"))["code"] == "hello_required"
    await v.send({"type": "hello", "protocol": 1, "visitor_token": None})
    await v.expect("hello")
    for bad in (None, 7, "", "x" * 200):
        await v.send({"type": "history", "before": bad})
        assert (await v.expect("error"))["code"] in ("missing_field", "bad_field"), bad
    await v.close()


async def test_an_operators_file_reaches_the_visitor_live_and_in_history_only_for_them(
    tmp_path, start_daemon
):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("the invoice, please")
    dialog = (await anna.expect("dialog.offered"))["dialog_id"]
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 invoice", filename="invoice.pdf", content_type="application/pdf")
    async with d.session.post(
        f"{d.base}/api/dialogs/{dialog}/attachments", data=form, headers=anna.headers
    ) as r:
        uploaded = await r.json()
    ack = await anna.reply(dialog, "", attachments=[uploaded])
    live = await v.expect("message")
    [file] = live["attachments"]
    assert (file["name"], file["mime"], file["size"]) == ("invoice.pdf", "application/pdf", 16)
    assert file["url"].startswith("/widget/files/") and "ref" not in file
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "sent"

    async with d.session.get(f"{d.base}{file['url']}", headers={"Authorization": f"Bearer {v.token}"}) as r:
        assert r.status == 200 and await r.read() == b"%PDF-1.4 invoice"
        assert r.headers["Content-Disposition"].startswith("attachment;")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    stranger = await d.visitor("support")
    async with d.session.get(
        f"{d.base}{file['url']}", headers={"Authorization": f"Bearer {stranger.token}"}
    ) as r:
        assert r.status == 403
    # a visitor token is no file link, and a file link is no visitor token
    async with d.session.get(
        f"{d.base}/widget/files/{v.token}", headers={"Authorization": f"Bearer {v.token}"}
    ) as r:
        assert r.status == 403
    link_token = file["url"].rsplit("/", 1)[1]
    impostor = await d.visitor("support", token=link_token)
    assert impostor.hello is not None and impostor.hello["visitor_token"] != link_token
    assert impostor.hello["history"] == []

    back = await d.visitor("support", token=v.token)
    assert back.hello is not None
    [again] = back.hello["history"][-1]["attachments"]
    assert again["name"] == "invoice.pdf"
    async with d.session.get(f"{d.base}{again['url']}", headers={"Authorization": f"Bearer {v.token}"}) as r:
        assert r.status == 200 and await r.read() == b"%PDF-1.4 invoice"


async def test_a_file_missing_from_the_store_fails_the_send_with_a_reason(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("the invoice, please")
    dialog = (await anna.expect("dialog.offered"))["dialog_id"]
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 invoice", filename="invoice.pdf", content_type="application/pdf")
    async with d.session.post(
        f"{d.base}/api/dialogs/{dialog}/attachments", data=form, headers=anna.headers
    ) as r:
        uploaded = await r.json()
    widget = d.daemon.connectors["widget"]
    real = widget.ctx.attachments  # type: ignore[attr-defined]

    class Lost:
        async def put(self, data: bytes, *, name: str, mime: str) -> str:
            return await real.put(data, name=name, mime=mime)

        async def get(self, key: str) -> bytes | None:
            return None

        async def exists(self, key: str) -> bool:
            return False

    widget.ctx.attachments = Lost()  # type: ignore[attr-defined]
    ack = await anna.reply(dialog, "here it is", attachments=[uploaded])
    status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"])
    assert status["state"] == "failed" and "invoice.pdf" in status["error"]
    await v.absent("message", wait=0.3)
    widget.ctx.attachments = real  # type: ignore[attr-defined]
    back = await d.visitor("support", token=v.token)
    assert back.hello is not None
    assert _texts(back.hello["history"]) == ["the invoice, please"]  # what failed is not shown later either
