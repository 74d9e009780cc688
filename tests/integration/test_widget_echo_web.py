"""A signed-in user's own message shows on their other device at once when the two are served by different web
processes (each web process hears every widget receipt; the one that did not take the message reads it back)."""

from __future__ import annotations

import aiohttp

from router.app.daemon import Daemon
from tests.clients import Operator, Visitor
from tests.conftest import PASSWORD, config, line, settings_from, web_process
from tests.integration.test_widget_identity import SECRET, signed
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)


async def test_the_other_device_on_another_web_process_shows_it(
    tmp_path,
    redis_url,  # noqa: F811  (fixture)
):
    site = {**line("site", ["anna"]), "channels": [{"type": "widget", "identity_secret": SECRET}]}
    data = {**config(tmp_path, [site]), "queue": {"backend": "redis", "url": redis_url}}
    settings = settings_from(tmp_path, data)
    router = Daemon(settings, role="router", env={"OPENLINES_DEMO_PASSWORD": PASSWORD})
    await router.start()
    try:
        async with (
            web_process(settings) as web1,
            web_process(settings) as web2,
            aiohttp.ClientSession() as session,
        ):
            base1, base2 = f"http://127.0.0.1:{web1.port}", f"http://127.0.0.1:{web2.port}"
            me = signed("user-7", "ivan@example.com", name="Ivan")
            laptop = Visitor(session, base1, "site", None, me)
            phone = Visitor(session, base2, "site", None, me)
            stranger = Visitor(session, base2, "site")
            for v in (laptop, phone, stranger):
                await v.connect()
            anna = Operator(session, base2, "anna", PASSWORD)
            await anna.connect()
            ack = await laptop.say("Typed on my laptop")
            echo = await phone.expect("message", lambda f: f.get("text") == "Typed on my laptop", timeout=10)
            assert echo["id"] == ack["id"] and echo["author"]["kind"] == "customer"
            assert echo["client_msg_id"] == ack["client_msg_id"]
            await stranger.absent("message", wait=0.5)  # nobody else's socket gets it
            await anna.expect("dialog.offered", timeout=10)
            for c in (laptop, phone, stranger, anna):
                await c.close()
    finally:
        await router.stop()
