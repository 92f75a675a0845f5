"""The client's address, as far as we can trust it.

Behind a reverse proxy every request comes from the proxy. `X-Forwarded-For` names the
client, but anyone can send that header: it is only believed when the direct peer is one of
the configured trusted proxies, and then the right-most address that is not itself a trusted
proxy is the client (the left-most entries are whatever the client chose to write).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from starlette.datastructures import Headers
from starlette.types import Scope

UNKNOWN = "unknown"


def client_address(scope: Scope, trusted_proxies: Sequence[str]) -> str:
    client = scope.get("client")
    peer = client[0] if client else UNKNOWN
    if not trusted_proxies or not _is_trusted(peer, tuple(trusted_proxies)):
        return peer
    forwarded = Headers(scope=scope).getlist("x-forwarded-for")
    hops = [hop.strip() for header in forwarded for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, tuple(trusted_proxies)):
            return hop if _is_address(hop) else UNKNOWN
    return peer


@lru_cache(maxsize=64)
def _networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(trusted))


def _is_address(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True
