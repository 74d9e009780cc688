"""The web role's aiohttp app: the operator API, connector routes, static console and widget, /healthz."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from router.app.metrics import CONTENT_TYPE, Metrics
from router.app.settings import HttpSettings
from router.web.console import ConsoleApi
from router.web.http import api_errors, json_response
from router.web.security import MetricsGuard, SecurityHeaders

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WIDGET_DIR = Path(__file__).resolve().parents[2] / "widget"


class Routes:
    """The RouteTable given to connectors: collects their routes for the app."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, str, Handler]] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        """Mount an HTTP route."""
        self.routes.append((method, path, handler))


class Health:
    """Each channel account's state, for /healthz."""

    def __init__(self) -> None:
        self.channels: dict[str, dict[str, Any]] = defaultdict(dict)

    def reporter(self, channel: str) -> _ChannelHealth:
        """The HealthReporter for one channel type."""
        return _ChannelHealth(self, channel)


class _ChannelHealth:
    def __init__(self, health: Health, channel: str) -> None:
        self._health = health
        self._channel = channel

    def set(self, account: str, state: str, detail: str | None = None) -> None:
        entry: dict[str, Any] = {"state": state}
        if detail:
            entry["detail"] = detail
        self._health.channels[f"{self._channel}:{account}"] = entry


def build_app(
    api: ConsoleApi,
    routes: Routes,
    health: Health,
    backends: dict[str, str],
    version: str,
    metrics: Metrics,
    http: HttpSettings,
) -> web.Application:
    """Assemble the app."""
    app = web.Application(middlewares=[api_errors], client_max_size=1024 * 1024)
    app.on_response_prepare.append(SecurityHeaders(http).apply)
    api.register(app)
    metrics_guard = MetricsGuard(http)
    for method, path, handler in routes.routes:
        app.router.add_route(method, path, handler)

    async def healthz(_: web.Request) -> web.Response:
        channels = dict(health.channels)
        ok = all(c.get("state") == "up" for c in channels.values())
        return json_response(
            {
                "status": "ok" if ok else "degraded",
                "version": version,
                "backends": backends,
                "channels": channels,
            }
        )

    def page(path: Path) -> Handler:
        async def handler(_: web.Request) -> web.StreamResponse:
            return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

        return handler

    async def root(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console/")

    async def metrics_page(request: web.Request) -> web.Response:
        metrics_guard.check(request)
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/", root)
    app.router.add_get("/console", root)
    app.router.add_get("/console/", page(WIDGET_DIR / "console" / "index.html"))
    app.router.add_static("/console/", WIDGET_DIR / "console", append_version=False)
    app.router.add_get("/demo/", page(WIDGET_DIR / "site" / "demo.html"))
    app.router.add_static("/widget/", WIDGET_DIR / "site", append_version=False)
    return app
