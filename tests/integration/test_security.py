"""The hardening issue's security items against the live daemon: the console socket and cookie-authenticated
changes only from the console's own origin, sign-in throttling off the event loop, sessions that end (logout in
any web process, expiry, a changed password), notes only where the dialog is visible, headers, uploads that are
never sent, who may hand a lead over, slow and greedy clients, /metrics."""

from __future__ import annotations

import asyncio
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from tests.clients import Operator
from tests.conftest import PASSWORD, FakeClock, config, line, settings_from

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
EVIL = "http://shop.example.test"  # a sibling site of the console's: the browser sends the operator's cookie


def settings(tmp_path: Path, **http: Any) -> Any:
    data = config(tmp_path, [line("support", ["anna", "boris"])])
    data["http"].update(http)
    return settings_from(tmp_path, data)


@pytest.fixture
async def support(tmp_path, start_daemon):
    return await start_daemon(settings(tmp_path, session_check_interval="200ms"))


async def login(s: aiohttp.ClientSession, base: str, who: str = "anna", password: str = PASSWORD) -> Any:
    async with s.post(f"{base}/api/login", json={"login": who, "password": password}) as r:
        return r.status, await r.json(), r.cookies


async def cookie_session(base: str, who: str = "anna") -> aiohttp.ClientSession:
    """A client that keeps the console's cookie, as a browser does."""
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    status, _, _ = await login(s, base, who)
    assert status == 200
    return s


# ---- 1. the console socket only from the console's own origin -------------------------------------------------


async def test_console_socket_with_the_cookie_from_another_origin_is_refused(support):
    base = support.base
    s = await cookie_session(base)
    try:
        for headers in (
            {"Origin": EVIL},
            {},
        ):  # a sibling site's page; no Origin at all (no browser omits it)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.ws_connect(f"{base}/api/console/ws", headers=headers)
            assert refused.value.status == 403, headers
        ws = await s.ws_connect(f"{base}/api/console/ws", headers={"Origin": base})
        assert (await ws.receive_json())["type"] == "hello"
        await ws.close()
        # an API client's bearer token is not what a cross-site page can send: the origin does not matter
        _, body, _ = await login(support.session, base)
        ws = await support.session.ws_connect(
            f"{base}/api/console/ws", headers={"Authorization": f"Bearer {body['token']}", "Origin": EVIL}
        )
        assert (await ws.receive_json())["type"] == "hello"
        await ws.close()
    finally:
        await s.close()


async def test_console_origin_is_the_public_url_when_one_is_set(tmp_path, start_daemon):
    d = await start_daemon(settings(tmp_path, public_url="http://chat.example.test"))
    s = await cookie_session(d.base)
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await s.ws_connect(f"{d.base}/api/console/ws", headers={"Origin": d.base})
        ws = await s.ws_connect(f"{d.base}/api/console/ws", headers={"Origin": "http://chat.example.test"})
        assert (await ws.receive_json())["type"] == "hello"
        await ws.close()
    finally:
        await s.close()


# ---- 6. CSRF: unsafe methods with the cookie only from our own pages -----------------------------------------


async def test_cookie_authenticated_changes_from_another_site_are_refused(support):
    base = support.base
    s = await cookie_session(base)
    try:
        async with s.post(f"{base}/api/logout", headers={"Origin": EVIL}) as r:
            assert r.status == 403 and (await r.json())["code"] == "cross_site"
        async with s.post(f"{base}/api/logout", headers={"Sec-Fetch-Site": "cross-site"}) as r:
            assert r.status == 403
        async with s.get(f"{base}/api/me", headers={"Origin": EVIL}) as r:  # reading is no change
            assert r.status == 200  # the session survived the forged logouts
        form = aiohttp.FormData()
        form.add_field("file", b"x", filename="x.txt")
        async with s.post(f"{base}/api/dialogs/any/attachments", data=form, headers={"Origin": EVIL}) as r:
            assert r.status == 403 and (await r.json())["code"] == "cross_site"
        async with s.post(f"{base}/api/logout", headers={"Origin": base}) as r:
            assert r.status == 200
        async with s.get(f"{base}/api/me") as r:
            assert r.status == 401
    finally:
        await s.close()


async def test_every_api_change_is_refused_from_another_site_and_every_api_read_asks_for_a_login(support):
    """Every route under /api/ of the running app, so a route added later is held to the same rules: a change
    (POST, PATCH, PUT, DELETE) with the session cookie from another site is refused before it runs, and a read
    without a login is 401."""
    base = support.base
    runner = support.daemon._runner
    assert runner is not None
    routes = [
        (
            r.method,
            r.resource.canonical.replace("{id}", "x")
            .replace("{mid}", "x")
            .replace("{n}", "0")
            .replace("{field}", "x"),
        )
        for r in runner.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/")
    ]
    changes = [(m, p) for m, p in routes if m in ("POST", "PATCH", "PUT", "DELETE") and p != "/api/login"]
    reads = [p for m, p in routes if m == "GET" and p != "/api/console/ws"]
    assert ("POST", "/api/dialogs/x/read") in changes and ("DELETE", "/api/quick-answers/x") in changes
    assert {"/api/search", "/api/admin/board", "/api/dialogs/x/events"} <= set(reads)
    s = await cookie_session(base)
    try:
        for method, path in changes:
            async with s.request(method, f"{base}{path}", json={}, headers={"Origin": EVIL}) as r:
                assert r.status == 403 and (await r.json())["code"] == "cross_site", (method, path)
        async with s.get(f"{base}/api/me") as r:
            assert r.status == 200  # none of them ran: the session is still there
    finally:
        await s.close()
    for path in reads:
        async with support.session.get(f"{base}{path}") as r:
            assert r.status == 401 and (await r.json())["code"] == "unauthorized", path
    for method, path in changes:
        if path == "/api/logout":
            continue  # signing out without a session is fine
        async with support.session.request(method, f"{base}{path}", json={}) as r:
            assert r.status == 401, (method, path)  # no session: nothing to act as


# ---- 2. sign-ins: throttled, and never on the event loop -------------------------------------------------------


async def test_wrong_sign_ins_are_throttled_per_login_and_a_success_resets_it(support):
    s, base = support.session, support.base
    with capture_logs() as logs:
        for _ in range(6):  # five are free; the sixth locks the login for a second
            status, body, _ = await login(s, base, "anna", "wrong")
            assert status == 401 and body["code"] == "bad_credentials"
        async with s.post(f"{base}/api/login", json={"login": "anna", "password": PASSWORD}) as r:
            body = await r.json()
            assert r.status == 429 and body["code"] == "too_many_attempts"  # even the right password waits
            assert body["retry_after"] >= 1 and r.headers["Retry-After"] == str(body["retry_after"])
    assert any(e["event"] == "auth.throttled" and e["operator"] == "anna" for e in logs)
    status, _, _ = await login(s, base, "boris")  # another login from the same address is not locked yet
    assert status == 200
    await asyncio.sleep(body["retry_after"] + 0.2)
    status, _, _ = await login(s, base, "anna")
    assert status == 200
    status, body, _ = await login(s, base, "anna", "wrong")  # the count started again
    assert status == 401


async def test_many_logins_from_one_address_are_throttled(support):
    s, base = support.session, support.base
    codes = [(await login(s, base, f"nobody{i}", "wrong"))[0] for i in range(21)]
    assert codes == [401] * 21
    status, body, _ = await login(s, base, "anna")
    assert status == 429 and body["code"] == "too_many_attempts"


async def test_a_burst_of_sign_ins_does_not_stall_the_daemon(support):
    s, base = support.session, support.base
    # regression: the argon2 checks ran on the event loop, so /healthz waited behind every one of them
    logins = [asyncio.create_task(login(s, base, f"ghost{i}", "wrong")) for i in range(30)]
    await asyncio.sleep(0.05)
    async with s.get(f"{base}/healthz") as r:
        assert r.status == 200
    still_checking = sum(not t.done() for t in logins)
    assert still_checking > 0, "every sign-in was checked before /healthz was answered"
    statuses = [(await t)[0] for t in logins]
    assert set(statuses) <= {401, 429} and statuses.count(401) >= 20


# ---- 3 and 4. sessions end: logout, expiry, a changed password -------------------------------------------------


async def test_logout_closes_the_sessions_sockets_and_no_other(support):
    anna = await support.operator("anna")
    other = await support.operator("anna", online=False)  # another tab: another session
    async with support.session.post(f"{support.base}/api/logout", headers=anna.headers) as r:
        assert r.status == 200
    await anna.expect("session.ended")
    await asyncio.wait_for(anna._reader, 5)  # type: ignore[arg-type]
    assert anna.ws is not None and anna.ws.close_code == 4401
    async with support.session.get(f"{support.base}/api/me", headers=anna.headers) as r:
        assert r.status == 401
    # the other session's socket still takes commands
    await other.send({"type": "presence", "status": "away"})
    await other.expect("presence", lambda f: f["status"] == "away")


async def test_an_expired_session_closes_its_socket(tmp_path, start_daemon):
    clock = FakeClock(NOW)
    d = await start_daemon(settings(tmp_path, session_check_interval="200ms"), clock)
    anna = await d.operator("anna")
    clock.advance(days=8)  # sessions last 7 days
    await anna.expect("session.ended", timeout=10)
    async with d.session.get(f"{d.base}/api/me", headers=anna.headers) as r:
        assert r.status == 401


async def test_a_changed_password_ends_the_sessions_made_before(tmp_path, start_daemon):
    ops = [{"login": "anna", "name": "Anna", "password": "first-password"}]
    data = config(tmp_path, [line("support", ["anna"])], operators=ops)
    first = await start_daemon(settings_from(tmp_path, data))
    status, body, _ = await login(first.session, first.base, "anna", "first-password")
    token = {"Authorization": f"Bearer {body['token']}"}
    await first.daemon.stop()
    same = await start_daemon(settings_from(tmp_path, data))  # a restart alone keeps the session
    async with same.session.get(f"{same.base}/api/me", headers=token) as r:
        assert r.status == 200
    await same.daemon.stop()
    data["operators"][0]["password"] = "second-password"
    changed = await start_daemon(settings_from(tmp_path, data))
    async with changed.session.get(f"{changed.base}/api/me", headers=token) as r:
        assert r.status == 401
    status, _, _ = await login(changed.session, changed.base, "anna", "second-password")
    assert status == 200


# ---- 5. notes need the dialog to be visible ----------------------------------------------------------------------


async def test_an_operator_cannot_note_into_a_colleagues_dialog(support):
    anna, boris = await support.operator("anna"), await support.operator("boris")
    v = await support.visitor("support")
    await v.say("hello")
    offered = await anna.expect("dialog.offered")
    dialog_id = offered["dialog_id"]
    await anna.send({"type": "take", "dialog_id": dialog_id})
    await anna.expect("dialog.assigned")
    # boris shares the line but cannot read anna's dialog: neither can he write notes into it
    await boris.send(
        {
            "type": "reply",
            "dialog_id": dialog_id,
            "client_msg_id": "n1",
            "text": "psst",
            "visibility": "internal",
        }
    )
    refused = await boris.expect("error", lambda f: f.get("client_msg_id") == "n1")
    assert refused["code"] == "forbidden"
    messages = await anna.get(f"/api/dialogs/{dialog_id}/messages")
    assert all(m["text"] != "psst" for m in messages["messages"])
    admin = await support.operator("admin")
    note = await admin.reply(dialog_id, "admins may", visibility="internal")
    assert note["dialog_id"] == dialog_id


# ---- 8. who may hand a lead over ------------------------------------------------------------------------------------


async def test_only_an_admin_or_the_responsible_hands_a_lead_over(support):
    anna, boris = await support.operator("anna"), await support.operator("boris")
    v = await support.visitor("support")
    await v.say("hello")
    offer = await anna.expect("dialog.offered")
    lead_id = offer["dialog"]["lead"]["id"]
    # regression: anna, offered the dialog but not responsible, could make herself (or anyone) responsible
    status, body = await anna.patch(f"/api/leads/{lead_id}", {"responsible": "anna"})
    assert (status, body["code"]) == (403, "forbidden")
    admin = await support.operator("admin")
    status, body = await admin.patch(f"/api/leads/{lead_id}", {"responsible": "anna"})
    assert status == 200 and body["responsible"] == "anna"
    status, body = await anna.patch(f"/api/leads/{lead_id}", {"responsible": "boris"})
    assert status == 200 and body["responsible"] == "boris"
    status, body = await anna.patch(f"/api/leads/{lead_id}", {"responsible": "anna"})
    assert status == 403
    assert boris.token


# ---- 10. lead fields without control characters -----------------------------------------------------------------


async def test_control_characters_are_stripped_from_lead_names(support):
    anna = await support.operator("anna")
    v = await support.visitor("support")
    await v.say("hello")
    lead_id = (await anna.expect("dialog.offered"))["dialog"]["lead"]["id"]
    status, lead = await anna.patch(
        f"/api/leads/{lead_id}", {"name": " Olga\x00\x07 Ivanova\r\nsecond line "}
    )
    assert status == 200 and lead["name"] == "Olga Ivanova second line"


# ---- 7. headers ------------------------------------------------------------------------------------------------


async def test_pages_carry_the_security_headers(support):
    s, base = support.session, support.base
    async with s.get(f"{base}/console/") as r:
        h = r.headers
        assert "default-src 'self'" in h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert "'unsafe-inline'" not in h["Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin"
    async with s.get(f"{base}/demo/") as r:  # the widget needs no inline style either (a constructed sheet)
        assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    async with s.get(f"{base}/console/main.js") as r:
        assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"
    async with s.get(f"{base}/widget/loader.js") as r:  # embedded in other sites: no framing rule, no policy
        assert r.status == 200 and "X-Frame-Options" not in r.headers
        assert "Content-Security-Policy" not in r.headers and r.headers["X-Content-Type-Options"] == "nosniff"
    async with s.get(f"{base}/api/me") as r:
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    _, _, cookies = await login(s, base)
    assert "openlines_session" in cookies and not cookies["openlines_session"]["secure"]


async def test_behind_https_the_session_cookie_is_secure_and_host_only(tmp_path, start_daemon):
    d = await start_daemon(settings(tmp_path, public_url="https://chat.example.test"))
    _, _, cookies = await login(d.session, d.base)
    cookie = cookies["__Host-openlines_session"]
    assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/" and not cookie["domain"]
    async with d.session.get(f"{d.base}/console/") as r:
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")


# ---- 6. uploads: only one's own, and removed when never sent ------------------------------------------------------


async def upload(op: Operator, base: str, dialog_id: str, data: bytes) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="note.txt", content_type="text/plain")
    async with op.session.post(
        f"{base}/api/dialogs/{dialog_id}/attachments", data=form, headers=op.headers
    ) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def test_an_upload_never_sent_is_removed_and_a_sent_one_kept(tmp_path, start_daemon):
    clock = FakeClock(NOW)
    d = await start_daemon(settings(tmp_path), clock)
    anna, boris = await d.operator("anna"), await d.operator("boris")
    v = await d.visitor("support")
    await v.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    sent = await upload(anna, d.base, dialog_id, b"sent file")
    forgotten = await upload(anna, d.base, dialog_id, b"never sent")
    # someone else's upload cannot be sent (the ref is unguessable, but it is not boris's to send)
    await boris.send(
        {"type": "reply", "dialog_id": dialog_id, "client_msg_id": "b1", "text": "x", "attachments": [sent]}
    )
    assert (await boris.expect("error", lambda f: f.get("client_msg_id") == "b1"))["code"] == "bad_field"
    await anna.reply(dialog_id, "here it is", attachments=[sent])
    files = Path(d.daemon.settings.var_dir) / "attachments"
    assert (files / sent["ref"]).exists() and (files / forgotten["ref"]).exists()
    sweeper = d.daemon._uploads
    assert sweeper is not None
    assert await sweeper.sweep() == 0  # both are young
    clock.advance(hours=25)
    assert await sweeper.sweep() == 1
    assert (files / sent["ref"]).exists() and not (files / forgotten["ref"]).exists()


# ---- 10. slow and greedy clients, /metrics -----------------------------------------------------------------------


async def test_a_client_that_never_finishes_its_headers_is_cut_off(tmp_path, start_daemon):
    d = await start_daemon(settings(tmp_path, header_timeout="300ms"))
    reader, writer = await asyncio.open_connection("127.0.0.1", d.daemon.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and nothing more
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server, nothing answered
    writer.close()
    # a client that sends its headers in time is served, however long its socket then stays open
    v = await d.visitor("support")
    await asyncio.sleep(0.6)
    assert (await v.say("still open"))["id"]


async def test_one_address_may_hold_only_so_many_connections(tmp_path, start_daemon):
    d = await start_daemon(settings(tmp_path, max_connections_per_address=3, trusted_proxies=[]))
    held = [socket.create_connection(("127.0.0.1", d.daemon.port)) for _ in range(3)]
    extra = socket.create_connection(("127.0.0.1", d.daemon.port))
    extra.settimeout(10)
    assert await asyncio.to_thread(extra.recv, 1) == b""  # closed at once
    extra.close()
    held.pop().close()
    await asyncio.sleep(0.2)
    async with d.session.get(f"{d.base}/healthz") as r:  # a slot came free
        assert r.status == 200
    for s in held:
        s.close()


async def test_metrics_only_for_the_allowed_networks_or_the_token(tmp_path, start_daemon):
    d = await start_daemon(settings(tmp_path, metrics_allow=["10.0.0.0/8"], metrics_token="s3cret-token"))
    async with d.session.get(f"{d.base}/metrics") as r:
        assert r.status == 403
    async with d.session.get(f"{d.base}/metrics", headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 403
    async with d.session.get(f"{d.base}/metrics", headers={"Authorization": "Bearer s3cret-token"}) as r:
        assert r.status == 200 and "openlines_messages_in" in await r.text()


REPO = Path(__file__).resolve().parents[2]


async def test_a_malformed_request_is_one_json_log_line_not_a_traceback(tmp_path):
    # regression: aiohttp logged a traceback per bad request (anyone can send one); now one structlog line
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = config(tmp_path, [line("support", ["anna"])])
    data["http"]["port"] = port
    data["log"] = {"format": "json"}
    settings_from(tmp_path, data)  # validates it and writes it as the daemon reads it
    path = tmp_path / "openlines.yaml"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router.app.cli",
        "run",
        "--config",
        str(path),
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "OPENLINES_DEMO_PASSWORD": PASSWORD},
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(300):
                try:
                    async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(12), 10)).startswith(b"HTTP/1.")
        writer.close()
        await asyncio.sleep(0.3)
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    lines = err.decode().splitlines()
    bad = [ln for ln in lines if '"http.request.bad"' in ln]
    assert len(bad) == 1 and "Content-Length" in bad[0], lines[-5:]
    assert not any("Traceback" in ln for ln in lines)
