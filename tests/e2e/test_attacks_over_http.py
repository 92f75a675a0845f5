"""What an attacker sends, over HTTP to both apps: each is a 4xx, at once, and changes nothing.

Huge query strings and bodies, deeply nested JSON, SQL in a search, a preflight from an origin
nobody listed, fields a client may not set, a URL for the server to fetch. (Forged tokens:
test_forged_tokens_over_http; text the read model cannot hold: test_text_over_http; other
users' things: the *_over_http tests of each resource.)
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

from infra.middleware import MAX_QUERY_BYTES
from tests.e2e.conftest import Service

pytestmark = [pytest.mark.e2e, pytest.mark.attack]


def both(service: Service) -> tuple[httpx.Client, httpx.Client]:
    return service.write, service.read


def raw_get(client: httpx.Client, target: str, headers: dict[str, str]) -> bytes:
    """A GET sent byte for byte: httpx refuses to send a URL as long as an attacker would."""
    address = urlsplit(str(client.base_url))
    lines = [f"GET {target} HTTP/1.1", f"Host: {address.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_a_query_string_over_the_limit_is_414_on_both_apps(service: Service) -> None:
    alice = service.sign_in()
    at_limit = {"p": "p" * (MAX_QUERY_BYTES - 2)}  # "p=" and the value: the limit exactly
    over = {"p": "p" * (MAX_QUERY_BYTES - 1)}
    assert service.read.get("/api/v1/tasks", params=at_limit, headers=alice).status_code == 200
    answers = [
        service.read.get("/api/v1/tasks", params=over, headers=alice),
        service.write.post("/api/v1/tasks", params=over, json={"title": "long"}, headers=alice),
    ]
    for response in answers:
        assert response.status_code == 414, response.text
        assert response.json()["error"]["code"] == "URI_TOO_LONG"
        assert response.json()["error"]["details"] == {"limit": MAX_QUERY_BYTES}
    # Anonymous callers learn nothing more than 401, whatever they send.
    assert service.read.get("/api/v1/tasks", params=over).status_code == 401


def test_a_query_string_of_a_megabyte_is_refused_by_the_server_never_a_5xx(
    service: Service,
) -> None:
    alice = service.sign_in()
    for client in both(service):
        answer = raw_get(client, "/api/v1/tasks?" + "x=1&" * 250_000, alice)
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, answer[:200]


def store_head(service: Service) -> int:
    head: int = service.write.get("/health/ready").json()["event_store_head"]
    return head


def test_a_body_over_the_limit_is_413_and_records_nothing(service: Service) -> None:
    alice = service.sign_in()
    limit = service.settings.max_request_body_bytes
    body = b'{"title": "' + b"x" * limit + b'"}'
    json_headers = {"Content-Type": "application/json"}
    before = store_head(service)
    answers = [
        service.write.post("/api/v1/tasks", content=body, headers={**alice, **json_headers}),
        service.write.post("/api/v1/auth/dev-login", content=body, headers=json_headers),
    ]
    for response in answers:
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert store_head(service) == before


def test_deeply_nested_json_is_400_at_once_and_records_nothing(service: Service) -> None:
    alice = service.sign_in()
    depth = 100_000  # 200 KB: under the body limit, far over any parser's recursion limit
    nested = {
        "arrays": "[" * depth + "]" * depth,
        "objects": '{"a":' * depth + "1" + "}" * depth,
        "inside a field": '{"title": "deep", "description": ' + "[" * depth + "]" * depth + "}",
    }
    before = store_head(service)
    for name, body in nested.items():
        for path, headers in (("/api/v1/tasks", alice), ("/api/v1/auth/dev-login", {})):
            started = time.monotonic()
            response = service.write.post(
                path, content=body, headers={**headers, "Content-Type": "application/json"}
            )
            assert time.monotonic() - started < 1, (name, path)
            assert response.status_code == 400, (name, path, response.text)
            assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert store_head(service) == before


def test_sql_in_a_search_is_only_text(service: Service) -> None:
    alice = service.sign_in()
    titles = ["' OR 1=1 --", "Call O'Brien", "100% done", "snake_case", "Plain"]
    for title in titles:
        created = service.create_task(alice, title=title)
    wait = {**alice, "X-Min-Position": created.headers["X-Event-Position"]}

    def found(search: str) -> list[str]:
        response = service.read.get("/api/v1/tasks", params={"search": search}, headers=wait)
        assert response.status_code == 200, response.text
        return [task["title"] for task in response.json()["data"]]

    assert found("' OR 1=1 --") == ["' OR 1=1 --"]
    assert found("'; DROP TABLE tasks; --") == []
    assert found("'") == ["Call O'Brien", "' OR 1=1 --"]
    # LIKE's wildcards are escaped too: they match themselves, not everything.
    assert found("%") == ["100% done"]
    assert found("_") == ["snake_case"]
    assert len(found("")) == len(titles)


def test_a_preflight_from_an_unlisted_origin_is_not_allowed(service: Service) -> None:
    preflight = {
        "Origin": "https://attacker.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    for client in both(service):
        response = client.options("/api/v1/tasks", headers=preflight)
        assert response.status_code < 500
        assert "access-control-allow-origin" not in response.headers
        plain = client.get("/health/live", headers={"Origin": "https://attacker.example"})
        assert "access-control-allow-origin" not in plain.headers


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/api/v1/tasks/{task_id}", {"owner_id": "00000000-0000-0000-0000-000000000001"}),
        ("/api/v1/tasks/{task_id}", {"completed": True}),
        ("/api/v1/tasks/{task_id}", {"archived": True, "id": "not-this-task"}),
        ("/api/v1/users/me", {"tier": "pro"}),
        ("/api/v1/users/me", {"email": "someone-else@example.com"}),
    ],
)
def test_fields_a_client_may_not_set_are_422_and_change_nothing(
    service: Service, path: str, extra: dict[str, object]
) -> None:
    alice = service.sign_in()
    task = service.create_task(alice, title="Mine").json()["data"]
    body = {"version": task["version"], **extra} if "{task_id}" in path else extra
    before = store_head(service)
    response = service.write.patch(path.format(task_id=task["id"]), json=body, headers=alice)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert store_head(service) == before


class Listener:
    """A loopback HTTP server that only counts the requests it gets."""

    def __init__(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.hits += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.hits = 0
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_url_a_user_gives_is_stored_as_text_never_fetched(service: Service) -> None:
    alice = service.sign_in()
    listener = Listener()
    with listener as url:
        avatar = f"{url}/latest/meta-data/iam/security-credentials/"
        changed = service.write.patch(
            "/api/v1/users/me", json={"avatar_url": avatar}, headers=alice
        )
        assert changed.status_code == 200, changed.text
        me = service.read.get(
            "/api/v1/users/me",
            headers={**alice, "X-Min-Position": changed.headers["X-Event-Position"]},
        )
        assert me.json()["data"]["avatar_url"] == avatar
    assert listener.hits == 0
