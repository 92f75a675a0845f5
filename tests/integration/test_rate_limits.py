"""Rate limits kept in PostgreSQL hold across several write API processes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from infra.database import DatabaseAddress
from perpetua.wiring import build_write_api
from tests.e2e.conftest import ServerThread, service_settings

pytestmark = pytest.mark.integration

SIGN_IN = "/api/v1/auth/dev-login"


@pytest.fixture
def two_write_apis(fresh_database: DatabaseAddress, tmp_path: Path) -> Iterator[list[httpx.Client]]:
    """Two write APIs on one database, each its own app with its own connection pool."""
    settings = service_settings(fresh_database, tmp_path).model_copy(
        update={"auth_requests_per_minute": 4, "trusted_proxies": ["127.0.0.1"]}
    )
    with ExitStack() as stack:
        urls = [stack.enter_context(ServerThread(build_write_api(settings))) for _ in range(2)]
        yield [stack.enter_context(httpx.Client(base_url=url, timeout=10)) for url in urls]


def sign_in(client: httpx.Client, forwarded_for: str) -> httpx.Response:
    return client.post(
        SIGN_IN,
        json={"email": "limit@example.com", "name": "L"},
        headers={"X-Forwarded-For": forwarded_for},
    )


def test_the_auth_limit_is_exact_across_two_processes(two_write_apis: list[httpx.Client]) -> None:
    first, second = two_write_apis
    statuses = [sign_in(api, "198.51.100.1").status_code for api in (first, second) * 2]
    assert statuses == [200, 200, 200, 200]
    for api in (first, second):
        limited = sign_in(api, "198.51.100.1")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_behind_a_trusted_proxy_each_client_has_its_own_window(
    two_write_apis: list[httpx.Client],
) -> None:
    first, _ = two_write_apis
    for _ in range(4):
        assert sign_in(first, "198.51.100.2").status_code == 200
    assert sign_in(first, "198.51.100.2").status_code == 429
    assert sign_in(first, "198.51.100.3").status_code == 200


def test_without_trusted_proxies_a_forged_forwarded_for_changes_nothing(
    fresh_database: DatabaseAddress, tmp_path: Path
) -> None:
    settings = service_settings(fresh_database, tmp_path).model_copy(
        update={"auth_requests_per_minute": 2}
    )
    with ServerThread(build_write_api(settings)) as url, httpx.Client(base_url=url) as api:
        statuses = [sign_in(api, f"198.51.100.{n}").status_code for n in range(10, 13)]
    assert statuses == [200, 200, 429]


def test_concurrent_hits_on_both_processes_let_exactly_the_limit_through(
    two_write_apis: list[httpx.Client],
) -> None:
    first, second = two_write_apis
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(
            pool.map(lambda n: sign_in((first, second)[n % 2], "198.51.100.4"), range(12))
        )
    assert sorted(a.status_code for a in answers) == [200] * 4 + [429] * 8
