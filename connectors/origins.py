"""Which sites may embed a widget: an allow-list of origins, and the client address behind a proxy."""

from __future__ import annotations

import ipaddress
import re

_ORIGIN = re.compile(r"(?:(https?)://)?(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(\d{1,5}))?")
_DEFAULT_PORT = {"http": "80", "https": "443"}


def split_origin(value: str) -> tuple[str | None, bool, str, str | None] | None:
    """(scheme, wildcard, host, port) of `scheme://[*.]host[:port]` or `*.host`; a default port is None."""
    m = _ORIGIN.fullmatch(value.strip().lower().removesuffix("/"))
    if m is None:
        return None
    scheme, star, host, port = m.groups()
    if port is not None and not 0 < int(port) < 65536:
        return None
    if port is not None and scheme is not None and _DEFAULT_PORT[scheme] == port:
        port = None  # browsers never send a default port in Origin
    return scheme, star is not None, host, port


def check_origins(value: list[str]) -> list[str]:
    """A settings block's `allowed_origins`, each one an origin pattern (a pydantic validator's body)."""
    for entry in value:
        parsed = split_origin(entry)
        if parsed is None or (parsed[0] is None and not parsed[1]):
            raise ValueError(
                f"{entry!r} is not an origin: write scheme://host[:port] (https://shop.example), "
                "https://*.shop.example for its subdomains, or *.shop.example for them over http and https"
            )
    return value


class OriginPolicy:
    """Which sites may open the widget socket: exact origins and `*.` subdomain wildcards; empty allows all."""

    def __init__(self, entries: list[str]) -> None:
        self.rules = [r for r in map(split_origin, entries) if r is not None]
        self.open = not entries

    def allows(self, origin: str | None) -> bool:
        """Is a request with this `Origin` header (None: no header, a non-browser client) allowed?"""
        if self.open:
            return True
        parsed = split_origin(origin) if origin is not None else None
        if parsed is None or parsed[0] is None or parsed[1]:
            return False
        scheme, _, host, port = parsed
        for r_scheme, r_wild, r_host, r_port in self.rules:
            if r_scheme not in (None, scheme) or r_port != port:
                continue
            if host.endswith(f".{r_host}") if r_wild else host == r_host:
                return True
        return False


def client_address(remote: str | None, forwarded_for: str | None) -> str:
    """The rate-limit key of a client: the first `X-Forwarded-For` address when given (trusted), else the peer;
    IPv6 by its /64, which one subscriber usually holds whole."""
    for candidate in ((forwarded_for or "").split(",")[0].strip(), remote or ""):
        try:
            ip = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)
    return remote or "unknown"
