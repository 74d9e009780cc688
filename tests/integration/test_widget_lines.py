"""Which line a widget socket is for: a line that does not exist is refused once and for good, with a code and a
readable message; a server that is shutting down only says "going away", so browsers come back."""

from __future__ import annotations

import aiohttp

from tests.conftest import config, line, settings_from


async def test_an_unknown_line_is_refused_with_a_code_and_a_readable_message(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    ws = await d.session.ws_connect(f"{d.base.replace('http', 'ws')}/widget/ws?line=nope")
    frame = await ws.receive_json()
    assert frame["type"] == "error" and frame["code"] == "unknown_line"
    assert "'nope'" in frame["message"] and "data-line" in frame["message"]
    closing = await ws.receive()
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_a_server_shutting_down_says_going_away_not_unknown_line(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    d.daemon.connectors["widget"]._closing = True  # type: ignore[attr-defined]  # as in stop(), before the sockets close
    ws = await d.session.ws_connect(f"{d.base.replace('http', 'ws')}/widget/ws?line=support")
    closing = await ws.receive()
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
    assert ws.close_code == 1001
    d.daemon.connectors["widget"]._closing = False  # type: ignore[attr-defined]
