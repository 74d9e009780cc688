"""A visitor's files (connectors/widget_uploads.py): uploaded with the visitor's token, checked by the server against
the line's `files` block (size, type, the content a type promises), sent by a `message` frame, seen and downloaded
by the operator, shown back to the visitor on every tab and in their history; every bad upload answers a code, and
an upload never sent is removed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import FakeClock, config, line, settings_from
from tests.pictures import png

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def site(**files: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "widget", "burst_per_visitor": 30}
    if files:
        block["files"] = files
    return {**line("site", ["anna"]), "channels": [block]}


async def test_a_visitors_picture_reaches_the_operator_and_stays_in_their_history(
    tmp_path: Path, start_daemon: Any
) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])))
    anna = await d.operator("anna")
    v = await d.visitor("site")
    picture = png()
    status, up = await v.upload(picture, "photo of the box.png", "image/png")
    assert status == 200, up
    assert (up["name"], up["mime"], up["size"]) == ("photo of the box.png", "image/png", len(picture))
    assert up["upload"] and "ref" not in up  # the store's key stays ours: the visitor holds a signed token

    await v.send(
        {"type": "message", "client_msg_id": "c1", "text": "It came broken", "attachments": [up["upload"]]}
    )
    ack = await v.expect("ack", lambda f: f["client_msg_id"] == "c1")
    [mine] = ack["attachments"]
    assert (mine["name"], mine["mime"], mine["size"]) == ("photo of the box.png", "image/png", len(picture))
    auth = {"Authorization": f"Bearer {v.token}"}
    async with d.session.get(f"{d.base}{mine['url']}", headers=auth) as r:
        assert r.status == 200 and await r.read() == picture
        assert r.headers["Content-Type"] == "image/png"

    offer = await anna.expect("dialog.offered")
    dialog_id = offer["dialog_id"]
    msgs = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    [msg] = [m for m in msgs if m["text"] == "It came broken"]
    [meta] = msg["attachments"]
    assert (meta["name"], meta["mime"], meta["size"]) == ("photo of the box.png", "image/png", len(picture))
    url = f"{d.base}/api/dialogs/{dialog_id}/messages/{msg['id']}/attachments/0"
    async with d.session.get(url, headers=anna.headers) as r:
        assert r.status == 200 and await r.read() == picture

    # a file alone, without words; then the visitor comes back: both files are in their history, with links
    status, doc = await v.upload(b"%PDF-1.4 receipt", "receipt.pdf", "application/pdf")
    assert status == 200, doc
    await v.send({"type": "message", "client_msg_id": "c2", "attachments": [doc["upload"]]})
    await v.expect("ack", lambda f: f["client_msg_id"] == "c2")
    got = await anna.expect("message", lambda f: f["message"]["text"] == "")
    assert [a["name"] for a in got["message"]["attachments"]] == ["receipt.pdf"]
    again = await d.visitor("site", v.token)
    files = [f for m in again.hello["history"] for f in m["attachments"]]
    assert [f["name"] for f in files] == ["photo of the box.png", "receipt.pdf"]
    async with d.session.get(f"{d.base}{files[1]['url']}", headers=auth) as r:
        assert r.status == 200 and await r.read() == b"%PDF-1.4 receipt"
        assert r.headers["Content-Type"] == "application/octet-stream"  # a download, never a page of ours


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_bad_uploads_answer_a_code_and_store_nothing(tmp_path: Path, start_daemon: Any) -> None:
    lines = [
        site(max_bytes=2048, types=["image/*", "application/pdf"]),
        {**line("quiet", ["anna"]), "channels": [{"type": "widget", "files": {"enabled": False}}]},
        {
            **line("shop", ["anna"]),
            "channels": [{"type": "widget", "allowed_origins": ["https://shop.example"]}],
        },
    ]
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, lines)))
    v = await d.visitor("site")
    # the widget is told what it may send, so it can say no before uploading
    assert v.hello["files"] == {"max_bytes": 2048, "types": ["image/*", "application/pdf"], "per_message": 5}
    stored = Path(d.daemon.settings.var_dir) / "attachments"

    async def refused(status: int, code: str, *args: Any, **kw: Any) -> None:
        got = await v.upload(*args, **kw)
        assert got[0] == status and got[1]["code"] == code, got
        assert got[1]["message"]

    await refused(413, "too_large", png() + b"\x00" * 4096, "big.png", "image/png")
    await refused(415, "type_not_allowed", b"MZ\x90\x00", "setup.exe", "application/x-msdownload")
    await refused(
        415, "type_not_allowed", b"plain words", "notes.txt", "text/plain"
    )  # not on this line's list
    # a page passed off as a picture, and a file whose type the browser did not say: judged by its name then
    await refused(415, "bad_file", b"<html><script>alert(1)</script>", "cat.png", "image/png")
    await refused(415, "bad_file", b"<html></html>", "cat.jpg", "application/octet-stream")
    await refused(400, "empty_file", b"", "empty.pdf", "application/pdf")
    await refused(400, "missing_field", png(), "a.png", "image/png", field="photo")
    await refused(401, "invalid_token", png(), "a.png", "image/png", token="forged")
    other = await d.visitor("quiet")  # a genuine token of another line
    await refused(401, "invalid_token", png(), "a.png", "image/png", token=other.token)
    assert other.hello["files"] is None
    status, body = await other.upload(png(), "a.png", "image/png")
    assert (status, body["code"]) == (403, "files_off")
    async with d.session.post(f"{d.base}/widget/upload?line=nowhere", data=b"x") as r:
        assert r.status == 404 and (await r.json())["code"] == "unknown_line"
    async with d.session.post(
        f"{d.base}/widget/upload?line=site", data=b"x", headers={"Authorization": f"Bearer {v.token}"}
    ) as r:
        assert r.status == 415 and (await r.json())["code"] == "bad_request"
    # another site's page may not send files to a line that names its sites
    async with d.session.post(
        f"{d.base}/widget/upload?line=shop", data=b"x", headers={"Origin": "https://evil.example"}
    ) as r:
        assert r.status == 403 and (await r.json())["code"] == "origin_not_allowed"
    async with d.session.options(
        f"{d.base}/widget/upload?line=shop", headers={"Origin": "https://shop.example"}
    ) as r:
        assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    assert not stored.exists() or not any(stored.iterdir())

    status, ok = await v.upload(png(), "fine.png", "image/png")  # the daemon still serves
    assert status == 200, ok


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_a_message_sends_only_the_visitors_own_uploads(tmp_path: Path, start_daemon: Any) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site(per_message=2)])))
    anna = await d.operator("anna")
    v, w = await d.visitor("site"), await d.visitor("site")
    _, hers = await w.upload(png(), "hers.png", "image/png")
    _, mine = await v.upload(png(), "mine.png", "image/png")

    async def error(frame: dict[str, Any]) -> str:
        await v.send({"type": "message", **frame})
        got = await v.expect("error", lambda f: f.get("client_msg_id") == frame["client_msg_id"])
        return str(got["code"])

    assert (
        await error({"client_msg_id": "x1", "text": "look", "attachments": [hers["upload"]]}) == "bad_upload"
    )
    assert await error({"client_msg_id": "x2", "text": "look", "attachments": ["garbage"]}) == "bad_upload"
    assert await error({"client_msg_id": "x3", "text": "look", "attachments": "nope"}) == "bad_field"
    three = [mine["upload"]] * 3
    assert await error({"client_msg_id": "x4", "text": "look", "attachments": three}) == "too_many_files"
    assert await error({"client_msg_id": "x5", "attachments": []}) == "missing_field"
    await anna.absent("dialog.offered", wait=0.5)  # nothing of the refused frames reached anyone
    # the same upload named twice is one file
    await v.send(
        {"type": "message", "client_msg_id": "ok", "text": "look", "attachments": [mine["upload"]] * 2}
    )
    await v.expect("ack", lambda f: f["client_msg_id"] == "ok")
    offer = await anna.expect("dialog.offered")
    msgs = (await anna.get(f"/api/dialogs/{offer['dialog_id']}/messages"))["messages"]
    assert [len(m["attachments"]) for m in msgs if m["text"] == "look"] == [1]


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_uploads_share_the_visitors_allowance(tmp_path: Path, start_daemon: Any) -> None:
    block = {"type": "widget", "burst_per_visitor": 2, "rate_per_visitor": 1}
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [{**line("site", ["anna"]), "channels": [block]}]))
    )
    v = await d.visitor("site")
    assert (await v.upload(png(), "1.png", "image/png"))[0] == 200
    assert (await v.upload(png(), "2.png", "image/png"))[0] == 200
    form = aiohttp.FormData()
    form.add_field("file", png(), filename="3.png", content_type="image/png")
    async with d.session.post(
        f"{d.base}/widget/upload?line=site", data=form, headers={"Authorization": f"Bearer {v.token}"}
    ) as r:
        assert r.status == 429 and (await r.json())["code"] == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1


async def test_an_upload_never_sent_is_removed_and_a_sent_one_kept(tmp_path: Path, start_daemon: Any) -> None:
    clock = FakeClock(NOW)
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])), clock)
    v = await d.visitor("site")
    other = await d.visitor("site")
    _, sent = await v.upload(png(), "sent.png", "image/png")
    _, forgotten = await v.upload(png(3, 3), "forgotten.png", "image/png")
    _, theirs = await other.upload(png(4, 4), "theirs.png", "image/png")
    await v.send({"type": "message", "client_msg_id": "c1", "text": "here", "attachments": [sent["upload"]]})
    await v.expect("ack", lambda f: f["client_msg_id"] == "c1")
    files = Path(d.daemon.settings.var_dir) / "attachments"
    assert len(list(files.iterdir())) == 3
    sweeper = d.daemon._uploads
    assert sweeper is not None
    assert await sweeper.sweep() == 0  # all are young
    clock.advance(hours=25)
    assert (
        await sweeper.sweep() == 2
    )  # the visitor's unsent one, and the other visitor's (their message has none)
    left = list(files.iterdir())
    assert len(left) == 1 and left[0].read_bytes() == png()
    assert await sweeper.sweep() == 0
    _ = theirs


@pytest.mark.backends("sqlite")  # nothing store-specific: the both-store runs are the tests that write
async def test_an_operator_cannot_send_a_visitors_upload_as_their_own(
    tmp_path: Path, start_daemon: Any
) -> None:
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [site()])))
    anna = await d.operator("anna")
    v = await d.visitor("site")
    _, up = await v.upload(png(), "mine.png", "image/png")
    await v.send({"type": "message", "client_msg_id": "c1", "text": "look", "attachments": [up["upload"]]})
    await v.expect("ack", lambda f: f["client_msg_id"] == "c1")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    [msg] = (await anna.get(f"/api/dialogs/{dialog_id}/messages"))["messages"]
    [meta] = msg["attachments"]  # the console sees the stored file's key ...
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned")
    refs = [{"ref": meta["ref"], "name": "mine.png", "mime": "image/png"}]
    await anna.send(
        {"type": "reply", "dialog_id": dialog_id, "client_msg_id": "r1", "text": "x", "attachments": refs}
    )
    # ... but a reply carries only the operator's own uploads
    assert (await anna.expect("error", lambda f: f.get("client_msg_id") == "r1"))["code"] == "bad_field"
