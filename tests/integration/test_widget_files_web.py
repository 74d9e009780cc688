"""An operator's file to a widget visitor when the web role runs apart from the router, as in production: every web
process pushes the message to its own sockets and one of them reports it — `sent` only if it can be delivered,
`failed` with the reason if a file is missing, never `sent` for what no visitor could get."""

from __future__ import annotations

import aiohttp

from router.app.daemon import Daemon
from tests.clients import Operator, Visitor
from tests.conftest import PASSWORD, config, line, settings_from, web_process
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)


class Lost:
    """An attachment store whose files are gone (a disk not shared, a file removed by hand)."""

    async def put(self, data: bytes, *, name: str, mime: str) -> str:
        raise AssertionError("nothing is stored in this test")

    async def get(self, key: str) -> bytes | None:
        return None

    async def exists(self, key: str) -> bool:
        return False


async def test_web_processes_deliver_an_operators_file_and_report_a_missing_one_failed(
    tmp_path,
    redis_url,  # noqa: F811  (fixture)
):
    data = {**config(tmp_path, [line("support", ["anna"])]), "queue": {"backend": "redis", "url": redis_url}}
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
            anna = Operator(session, base2, "anna", PASSWORD)
            await anna.connect()
            visitor = Visitor(session, base1, "support")
            await visitor.connect()
            await visitor.say("the brochure, please")
            dialog = (await anna.expect("dialog.offered", timeout=10))["dialog_id"]
            form = aiohttp.FormData()
            form.add_field(
                "file", b"%PDF-1.4 brochure", filename="brochure.pdf", content_type="application/pdf"
            )
            async with session.post(
                f"{base2}/api/dialogs/{dialog}/attachments", data=form, headers=anna.headers
            ) as r:
                uploaded = await r.json()

            # uploaded on one web process, pushed by the other, opened there with the visitor's token
            ack = await anna.reply(dialog, "here it is", attachments=[uploaded])
            got = await visitor.expect("message", timeout=10)
            [file] = got["attachments"]
            auth = {"Authorization": f"Bearer {visitor.token}"}
            async with session.get(f"{base1}{file['url']}", headers=auth) as r:
                assert r.status == 200 and await r.read() == b"%PDF-1.4 brochure"
            status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"], timeout=10)
            assert status["state"] == "sent"
            await anna.absent("message.status", lambda f: f["message_id"] == ack["id"], wait=1.0)

            # the file is gone: no web process pushes the message, and the one that reports says why it failed
            for web in (web1, web2):
                web.connectors["widget"].ctx.attachments = Lost()  # type: ignore[attr-defined]
            ack = await anna.reply(dialog, "and again", attachments=[uploaded])
            status = await anna.expect("message.status", lambda f: f["message_id"] == ack["id"], timeout=10)
            assert status["state"] == "failed" and "brochure.pdf" in status["error"]
            await visitor.absent("message", wait=0.5)
            await anna.absent("message.status", lambda f: f["message_id"] == ack["id"], wait=1.0)
            await visitor.close()
            await anna.close()
    finally:
        await router.stop()
