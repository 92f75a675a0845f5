"""Which address a request comes from: X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

from typing import Any

import pytest

from infra.client_address import client_address


def scope(peer: str, *forwarded: str) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"type": "http", "client": (peer, 43210), "headers": headers}


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_claims() -> None:
    assert client_address(scope("203.0.113.7", "198.51.100.1"), []) == "203.0.113.7"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address(scope("203.0.113.7", "198.51.100.1"), ["10.0.0.0/8"]) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() -> None:
    # The client wrote "1.1.1.1" itself; the proxy appended the address it really saw.
    request = scope("10.0.0.5", "1.1.1.1, 198.51.100.9")
    assert client_address(request, ["10.0.0.0/8"]) == "198.51.100.9"


def test_a_chain_of_trusted_proxies_is_walked_back() -> None:
    request = scope("10.0.0.5", "198.51.100.9, 10.0.0.7", "10.0.0.6")
    assert client_address(request, ["10.0.0.0/8"]) == "198.51.100.9"


@pytest.mark.parametrize("junk", ["not-an-ip", "198.51.100.9\x00", "<script>"])
def test_a_hop_that_is_not_an_address_is_unknown(junk: str) -> None:
    assert client_address(scope("10.0.0.5", junk), ["10.0.0.0/8"]) == "unknown"


def test_a_trusted_peer_with_no_header_is_the_client() -> None:
    assert client_address(scope("10.0.0.5"), ["10.0.0.5"]) == "10.0.0.5"
