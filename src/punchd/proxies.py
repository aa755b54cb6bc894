"""Who sent an HTTP request: the peer, or, behind reverse proxies the site trusts, the client
they name. One rule for every listener punchd runs (the web console, the push receiver)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> list[Network]:
    """Addresses or networks (``10.0.0.0/8``); an entry that is neither never matches."""
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return nets


class ClientAddress:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
    X-Forwarded-For entry that is not itself a trusted proxy. Headers from anyone else are
    ignored: a client cannot choose its own address."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self.trusted = networks(trusted)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def __call__(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        if not self.trusted or not self._is_trusted(peer):
            return peer
        forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else peer

    def https(self, request: Request) -> bool:
        """Reached over https: directly, or as a trusted proxy's X-Forwarded-Proto says."""
        peer = request.client.host if request.client else ""
        if self.trusted and self._is_trusted(peer):
            proto = request.headers.get("x-forwarded-proto", "")
            if proto:
                return proto.split(",")[0].strip() == "https"
        return request.url.scheme == "https"
