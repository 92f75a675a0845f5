"""The shared HTTP plumbing, seen from a client of a tiny app built with install_common."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from infra.auth import CurrentPrincipal
from infra.errors import ApiError, error_responses
from infra.http import install_common
from infra.keys import KeySet, generate_key_pair, load_key_set
from infra.logging import configure_logging
from infra.settings import Settings
from infra.tokens import TokenIssuer, TokenVerifier

SECURITY_HEADERS = {
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "content-security-policy",
    "referrer-policy",
}
SECRET = "hunter2-SELECT-password-from-users"


class DomainError(Exception):
    code = "DOMAIN_ERROR"


class TaskLimitExceededError(DomainError):
    code = "TASK_LIMIT_EXCEEDED"

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.details = {"limit": limit}


class NewTask(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    estimated_duration: int | None = None


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeySet:
    directory = tmp_path_factory.mktemp("keys")
    generate_key_pair(directory, "k1")
    return load_key_set(
        Settings(_env_file=None, jwt_private_key_file=directory / "k1.private.pem"),  # type: ignore[call-arg]
        need_private=True,
    )


def make_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def build_app(
    keys: KeySet,
    settings: Settings | None = None,
    readiness: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    app = FastAPI()

    async def ready() -> dict[str, Any]:
        return {"ready": True, "database": "ok"}

    install_common(
        app,
        settings or make_settings(),
        service="test",
        verifier=verifier or TokenVerifier(keys, "perpetua", "perpetua-api"),
        readiness=readiness or ready,
        domain_error=DomainError,
    )

    @app.get("/api/v1/tasks/{task_id}", responses=error_responses("TASK_NOT_FOUND"))
    def get_task(task_id: uuid.UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        return {"data": {"id": str(task_id), "owner": str(principal.user_id)}}

    @app.post(
        "/api/v1/tasks",
        status_code=201,
        responses=error_responses("TASK_LIMIT_EXCEEDED", "VERSION_CONFLICT", "VALIDATION_ERROR"),
    )
    def create_task(task: NewTask, principal: CurrentPrincipal) -> dict[str, Any]:
        if task.title == "one too many":
            raise TaskLimitExceededError("Active task limit of 50 reached", limit=50)
        return {"data": {"title": task.title}}

    @app.get("/api/v1/boom")
    def boom(principal: CurrentPrincipal) -> None:
        raise RuntimeError(f"connection to postgres://app:{SECRET}@db failed")

    @app.get("/api/v1/lagging")
    def lagging(principal: CurrentPrincipal) -> None:
        raise ApiError("PROJECTION_LAGGING", "Try again", headers={"Retry-After": "1"})

    @app.get("/api/v1/cached")
    def cached(principal: CurrentPrincipal) -> JSONResponse:
        return JSONResponse({"data": []}, headers={"Cache-Control": "private, no-cache"})

    @app.post("/api/v1/auth/login")
    def login() -> dict[str, Any]:
        return {"data": {"public": True}}

    @app.get("/outside-api/me")
    def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"data": str(principal.user_id)}

    return app


@pytest.fixture
def client(keys: KeySet) -> Iterator[TestClient]:
    # raise_server_exceptions stays on: an exception escaping the plumbing fails the test.
    with TestClient(build_app(keys)) as test_client:
        yield test_client


@pytest.fixture
def user_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def auth(keys: KeySet, user_id: uuid.UUID) -> dict[str, str]:
    token, _ = TokenIssuer(keys, "perpetua", "perpetua-api", 900).issue(user_id, "free")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """JSON log lines written while the test runs."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO", "json")
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line]

    yield lines
    root.handlers, root.level = saved[0], saved[1]


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    return dict(error)


# --- request id ---------------------------------------------------------------------------


def test_a_well_formed_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": "client-42.retry_1"})
    assert response.headers["x-request-id"] == "client-42.retry_1"


@pytest.mark.parametrize("sent", [None, "", "has space", "../../etc/passwd", "x" * 129, "<script>"])
def test_a_missing_or_malformed_request_id_is_replaced(
    client: TestClient, sent: str | None
) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    response = client.get("/health/live", headers=headers)
    echoed = response.headers["x-request-id"]
    assert echoed != sent
    assert len(echoed) == 32
    int(echoed, 16)


def test_every_request_gets_a_different_generated_id(client: TestClient) -> None:
    ids = {client.get("/health/live").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


# --- security headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "authenticated", "status"),
    [
        ("GET", "/health/live", False, 200),
        ("GET", "/no-such-page", False, 404),
        ("GET", "/api/v1/tasks/abc", False, 401),
        ("GET", "/api/v1/boom", True, 500),
        ("POST", "/api/v1/tasks", True, 422),
        ("DELETE", "/health/live", False, 405),
    ],
)
def test_security_headers_and_request_id_are_on_every_response(
    client: TestClient,
    auth: dict[str, str],
    method: str,
    path: str,
    authenticated: bool,
    status: int,
) -> None:
    response = client.request(method, path, headers=auth if authenticated else {})

    assert response.status_code == status
    assert set(response.headers) >= SECURITY_HEADERS
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "max-age=" in response.headers["strict-transport-security"]
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]


def test_api_csp_forbids_everything_but_docs_can_load_swagger(client: TestClient) -> None:
    api_csp = client.get("/health/live").headers["content-security-policy"]
    docs = client.get("/docs")

    assert "frame-ancestors 'none'" in api_csp
    assert "script-src" not in api_csp
    assert docs.status_code == 200
    docs_csp = docs.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in docs_csp
    assert "frame-ancestors 'none'" in docs_csp
    assert "connect-src 'self'" in docs_csp


def test_a_route_that_sets_cache_control_keeps_it(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/api/v1/cached", headers=auth)
    assert response.headers["cache-control"] == "private, no-cache"


# --- authentication -----------------------------------------------------------------------


def test_missing_token_is_401_before_the_body_is_parsed(client: TestClient) -> None:
    response = client.post(
        "/api/v1/tasks", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    error = assert_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"
    assert error["details"] == {}


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Bearer ", "bearer"],
)
def test_bad_token_is_401_invalid_token_before_the_body_is_parsed(
    client: TestClient, authorization: str
) -> None:
    response = client.post(
        "/api/v1/tasks",
        content=b"{not json",
        headers={"Content-Type": "application/json", "Authorization": authorization},
    )

    assert_error(response, 401, "INVALID_TOKEN")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_expired_token_says_so(keys: KeySet) -> None:
    token, ttl = TokenIssuer(keys, "perpetua", "perpetua-api", 60).issue(uuid.uuid4(), "free")
    an_hour_later = datetime.now(UTC) + timedelta(seconds=ttl + 3600)
    verifier = TokenVerifier(keys, "perpetua", "perpetua-api", clock=lambda: an_hour_later)

    with TestClient(build_app(keys, verifier=verifier)) as later_client:
        response = later_client.get("/api/v1/boom", headers={"Authorization": f"Bearer {token}"})

    error = assert_error(response, 401, "INVALID_TOKEN")
    assert "expired" in error["message"].lower()


def test_unknown_api_path_without_token_is_401_not_404(client: TestClient) -> None:
    assert_error(client.get("/api/v1/secret-admin-route"), 401, "UNAUTHENTICATED")


def test_public_prefixes_and_root_routes_need_no_token(client: TestClient) -> None:
    assert client.post("/api/v1/auth/login").json() == {"data": {"public": True}}
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/metrics").status_code == 200


def test_valid_token_reaches_the_route_with_its_principal(
    client: TestClient, auth: dict[str, str], user_id: uuid.UUID
) -> None:
    task_id = uuid.uuid4()
    response = client.get(f"/api/v1/tasks/{task_id}", headers=auth)
    assert response.status_code == 200
    assert response.json() == {"data": {"id": str(task_id), "owner": str(user_id)}}


def test_current_principal_outside_the_protected_prefix_is_401(
    client: TestClient, auth: dict[str, str]
) -> None:
    # The dependency does not trust a header the middleware never checked.
    response = client.get("/outside-api/me", headers=auth)
    assert_error(response, 401, "UNAUTHENTICATED")


# --- error envelope -----------------------------------------------------------------------


def test_malformed_json_with_a_valid_token_is_422(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/tasks",
        content=b'{"title": ',
        headers={**auth, "Content-Type": "application/json"},
    )
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert error["message"] == "Malformed JSON body"


def test_validation_error_lists_the_fields_without_echoing_input(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/tasks", json={"title": "", "estimated_duration": SECRET}, headers=auth
    )

    error = assert_error(response, 422, "VALIDATION_ERROR")
    fields = {tuple(field["loc"]): field for field in error["details"]["fields"]}
    assert set(fields) == {("body", "title"), ("body", "estimated_duration")}
    assert fields[("body", "title")]["type"] == "string_too_short"
    assert fields[("body", "title")]["message"]
    assert SECRET not in response.text


def test_domain_errors_map_to_their_status_code_and_details(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post("/api/v1/tasks", json={"title": "one too many"}, headers=auth)
    error = assert_error(response, 409, "TASK_LIMIT_EXCEEDED")
    assert error == {
        "code": "TASK_LIMIT_EXCEEDED",
        "message": "Active task limit of 50 reached",
        "details": {"limit": 50},
        "request_id": response.headers["x-request-id"],
    }


def test_api_error_keeps_its_headers(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/api/v1/lagging", headers=auth)
    assert_error(response, 503, "PROJECTION_LAGGING")
    assert response.headers["retry-after"] == "1"


def test_unknown_route_and_wrong_method_use_the_envelope(client: TestClient) -> None:
    assert_error(client.get("/nowhere"), 404, "NOT_FOUND")
    wrong_method = client.put("/health/live")
    assert_error(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in wrong_method.headers["allow"]


def test_unhandled_exception_is_a_generic_500_with_the_traceback_only_in_logs(
    client: TestClient, auth: dict[str, str], log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    response = client.get("/api/v1/boom", headers={**auth, "X-Request-ID": "boom-1"})

    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert error["request_id"] == "boom-1"
    for leak in (SECRET, "Traceback", "RuntimeError", "postgres://", 'File "'):
        assert leak not in response.text
    logged = [line for line in log_lines() if line["event"] == "unhandled_exception"]
    assert len(logged) == 1
    assert logged[0]["request_id"] == "boom-1"
    assert "RuntimeError" in json.dumps(logged[0]["exception"])


def test_payload_over_the_limit_is_413_declared_or_streamed(
    keys: KeySet, auth: dict[str, str]
) -> None:
    app = build_app(keys, make_settings(max_request_body_bytes=64))
    body = json.dumps({"title": "x" * 100}).encode()

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the limit must hold while the body streams in.
        yield body[:40]
        yield body[40:]

    with TestClient(app) as small_client:
        small = small_client.post("/api/v1/tasks", json={"title": "ok"}, headers=auth)
        declared = small_client.post("/api/v1/tasks", content=body, headers=auth)
        streamed = small_client.post("/api/v1/tasks", content=chunks(), headers=auth)

    assert small.status_code == 201
    assert "content-length" in declared.request.headers
    assert_error(declared, 413, "PAYLOAD_TOO_LARGE")
    assert "content-length" not in streamed.request.headers
    assert_error(streamed, 413, "PAYLOAD_TOO_LARGE")
    assert set(streamed.headers) >= SECURITY_HEADERS


def test_openapi_documents_error_codes_and_hides_root_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    create = schema["paths"]["/api/v1/tasks"]["post"]["responses"]
    assert "`TASK_LIMIT_EXCEEDED`" in create["409"]["description"]
    assert "`VERSION_CONFLICT`" in create["409"]["description"]
    assert create["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    assert "ErrorBody" in schema["components"]["schemas"]
    assert schema["paths"]["/api/v1/tasks/{task_id}"]["get"]["security"] == [{"HTTPBearer": []}]
    assert not {"/health/live", "/health/ready", "/metrics"} & set(schema["paths"])


def test_error_responses_refuses_unknown_codes() -> None:
    with pytest.raises(ValueError, match="NO_SUCH_CODE"):
        error_responses("NO_SUCH_CODE")


def test_api_error_refuses_unknown_codes() -> None:
    with pytest.raises(ValueError, match="NO_SUCH_CODE"):
        ApiError("NO_SUCH_CODE", "typo")


# --- access log and metrics ---------------------------------------------------------------


def test_access_log_line_has_route_template_status_duration_and_user(
    client: TestClient,
    auth: dict[str, str],
    user_id: uuid.UUID,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    task_id = uuid.uuid4()
    client.get(f"/api/v1/tasks/{task_id}", headers={**auth, "X-Request-ID": "req-7"})

    [line] = [line for line in log_lines() if line["event"] == "http_request"]
    assert line["request_id"] == "req-7"
    assert line["user_id"] == str(user_id)
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/tasks/{task_id}"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert str(task_id) not in json.dumps(line)


def request_count(client: TestClient, **labels: str) -> float:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "perpetua_http_requests":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels == labels:
                    return sample.value
    return 0.0


def test_metrics_count_requests_by_route_template(client: TestClient, auth: dict[str, str]) -> None:
    labels = {
        "service": "test",
        "method": "GET",
        "route": "/api/v1/tasks/{task_id}",
        "status": "200",
    }
    before = request_count(client, **labels)
    task_id = uuid.uuid4()

    client.get(f"/api/v1/tasks/{task_id}", headers=auth)
    client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=auth)
    client.get("/nothing/here")

    assert request_count(client, **labels) == before + 2
    text = client.get("/metrics").text
    assert str(task_id) not in text
    assert 'route="unmatched"' in text
    assert "perpetua_http_request_duration_seconds_bucket" in text


# --- health -------------------------------------------------------------------------------


def test_ready_is_200_with_details_when_ready(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "database": "ok"}


def test_ready_is_503_with_details_when_not_ready(keys: KeySet) -> None:
    async def not_ready() -> dict[str, Any]:
        return {"ready": False, "projections": {"task_list": "stale"}}

    with TestClient(build_app(keys, readiness=not_ready)) as not_ready_client:
        response = not_ready_client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"ready": False, "projections": {"task_list": "stale"}}


def test_ready_is_503_without_leaking_when_the_check_fails(keys: KeySet) -> None:
    async def broken() -> dict[str, Any]:
        raise ConnectionError(f"postgres://app:{SECRET}@db refused")

    with TestClient(build_app(keys, readiness=broken)) as broken_client:
        response = broken_client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["ready"] is False
    assert SECRET not in response.text


# --- CORS ---------------------------------------------------------------------------------


def preflight(test_client: TestClient, origin: str = "https://app.example") -> Any:
    return test_client.options(
        "/api/v1/tasks",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )


def test_cors_is_off_by_default(client: TestClient) -> None:
    assert "access-control-allow-origin" not in preflight(client).headers
    response = client.get("/health/live", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_configured_origins_only(keys: KeySet, auth: dict[str, str]) -> None:
    app = build_app(keys, make_settings(cors_origins=["https://app.example"]))
    with TestClient(app) as cors_client:
        allowed = preflight(cors_client)
        unlisted = preflight(cors_client, origin="https://evil.example")
        other = cors_client.get("/health/live", headers={"Origin": "https://evil.example"})
        unauthenticated = cors_client.get(
            "/api/v1/tasks/x", headers={"Origin": "https://app.example"}
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in unlisted.headers
    assert "access-control-allow-origin" not in other.headers
    # A browser app must be able to read a 401 and its request id.
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["access-control-allow-origin"] == "https://app.example"
    exposed = unauthenticated.headers["access-control-expose-headers"].lower()
    for header in ("x-request-id", "x-event-position", "x-projection-position", "etag"):
        assert header in exposed


def test_settings_accept_comma_separated_cors_origins(tmp_path: Path) -> None:
    settings = make_settings(cors_origins="https://a.example, https://b.example")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
