"""Who a request comes from: the client's address (believing X-Forwarded-For only from trusted proxies) and
whether a browser sent it from the console's own origin (cross-site requests carry the victim's cookie too)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parsed networks (settings validated them)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def within(address: str | None, nets: tuple[IPNetwork, ...]) -> bool:
    """Whether an address is in one of the networks."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in nets)


def client_address(request: web.Request, trusted: tuple[IPNetwork, ...]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the nearest X-Forwarded-For hop that
    is not one (a client can prepend anything to the header; only what our proxies appended is believed)."""
    peer = request.remote or "unknown"
    if not within(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not within(hop, trusted):
            return hop
    return hops[0] if hops else peer


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL, the default port filled in; None if it is none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def own_origin(request: web.Request, public_url: str | None) -> tuple[str, str, int] | None:
    """The console's origin: the configured public URL's, else the request's own scheme and Host."""
    return origin_of(public_url or f"{request.scheme}://{request.host}")


def same_origin(request: web.Request, public_url: str | None) -> bool:
    """Whether a browser sent the request from the console's own pages. `Origin` decides when present; else a
    modern browser's `Sec-Fetch-Site`; a request with neither did not come from a browser's cross-site page."""
    origin = request.headers.get("Origin")
    if origin is not None:
        mine, theirs = own_origin(request, public_url), origin_of(origin)
        if mine is None or theirs is None:
            return False
        if public_url:
            return theirs == mine
        # no public URL: behind a TLS proxy the request arrives as http while the page was https, so the scheme
        # is not compared; the host and port are (another site has another host)
        return theirs[1:] == mine[1:] or (
            theirs[1] == mine[1] and _default_port(theirs) and _default_port(mine)
        )
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    return True


def _default_port(origin: tuple[str, str, int]) -> bool:
    return origin[2] == _DEFAULT_PORTS[origin[0]]
