"""The headers every answer carries (what the browser may load, frame and send on), and who may read /metrics."""

from __future__ import annotations

import hmac

from aiohttp import web

from router.app import log_events as ev
from router.app.logs import get
from router.app.settings import HttpSettings
from router.web.clients import networks, within

log = get(__name__)
# the console and the demo load only our own files (ES modules, CSS, images the operators' customers sent);
# nothing inline, no framing: a page of ours inside another site's frame could be clickjacked
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' {sockets}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
# a file a customer or operator sent, opened in a tab: it runs nothing and reaches nothing
_FILE_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
_ASSETS = (
    "/console/",
    "/widget/",
)  # static files: revalidated on each load, so an upgrade never mixes versions


class SecurityHeaders:
    """Sets the security headers of every response (a response that set its own keeps it)."""

    def __init__(self, http: HttpSettings) -> None:
        self.https = bool(http.public_url and http.public_url.lower().startswith("https:"))

    async def apply(self, request: web.Request, response: web.StreamResponse) -> None:
        """The `on_response_prepare` hook."""
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        if self.https:
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        path = request.path
        if "/attachments/" in path or "/files/" in path:
            h.setdefault("Content-Security-Policy", _FILE_POLICY)
        elif path.startswith("/widget/"):
            pass  # the widget's loader and styles run inside our customers' own pages: their policy applies
        else:
            host = request.host
            h.setdefault("Content-Security-Policy", _POLICY.format(sockets=f"ws://{host} wss://{host}"))
            h.setdefault("X-Frame-Options", "DENY")
        if path.startswith(_ASSETS) and "Cache-Control" not in h and response.status < 400:
            h["Cache-Control"] = "no-cache"


class MetricsGuard:
    """/metrics only for the configured networks, or with the configured bearer token."""

    def __init__(self, http: HttpSettings) -> None:
        self.allow = networks(http.metrics_allow)
        self.token = http.metrics_token

    def check(self, request: web.Request) -> None:
        """Raise 403 for anyone else."""
        auth = request.headers.get("Authorization", "")
        if self.token and auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip(), self.token):
            return
        if within(request.remote, self.allow):
            return
        log.warning(ev.METRICS_REFUSED, address=request.remote)
        raise web.HTTPForbidden(text="metrics are not open to this address\n")
