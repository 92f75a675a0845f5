"""Both apps' OpenAPI documents say what a client can be answered, middlewares' answers too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Service
from writeapi.main import is_paid_ai

pytestmark = pytest.mark.e2e

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
PUBLIC = ("/api/v1/auth/", "/api/v1/webhooks/")
COMMANDS = {"post", "put", "patch", "delete"}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def codes(operation: dict[str, Any], status: str) -> list[str]:
    content = operation["responses"][status]["content"]["application/json"]
    assert content["schema"] == ENVELOPE
    return list(content["examples"])


@pytest.fixture(scope="module")
def documents(service: Service) -> dict[str, dict[str, Any]]:
    return {
        "write": service.write.get("/openapi.json").json(),
        "read": service.read.get("/openapi.json").json(),
    }


def test_every_protected_operation_documents_401_and_the_bearer_scheme(
    documents: dict[str, dict[str, Any]],
) -> None:
    for document in documents.values():
        for path, _, operation in operations(document):
            if not path.startswith("/api/v1/") or path.startswith(PUBLIC):
                continue
            assert codes(operation, "401") == ["UNAUTHENTICATED", "INVALID_TOKEN"], path
            assert operation["security"] == [{"HTTPBearer": []}], path


def test_every_error_answer_is_documented_as_the_envelope(
    documents: dict[str, dict[str, Any]],
) -> None:
    for document in documents.values():
        assert "HTTPValidationError" not in document["components"]["schemas"]
        for path, _, operation in operations(document):
            assert "422" in operation["responses"], path
            assert codes(operation, "414") == ["URI_TOO_LONG"], path
            for status in operation["responses"]:
                if status.startswith(("4", "5")):
                    assert codes(operation, status), (path, status)


def test_every_command_documents_its_idempotency_key_and_conflicts(
    documents: dict[str, dict[str, Any]],
) -> None:
    for path, method, operation in operations(documents["write"]):
        if method not in COMMANDS or path.startswith(PUBLIC):
            continue
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert "Idempotency-Key" in headers, path
        assert "IDEMPOTENCY_IN_PROGRESS" in codes(operation, "409"), path
        assert "IDEMPOTENCY_KEY_REUSED" in codes(operation, "422"), path
        assert codes(operation, "413") == ["PAYLOAD_TOO_LARGE"], path
    create = documents["write"]["paths"]["/api/v1/tasks"]["post"]
    # The route's own codes stay, next to the middleware's.
    assert "TASK_LIMIT_EXCEEDED" in codes(create, "409")
    assert "DUE_DATE_TOO_FAR" in codes(create, "422")


def test_sign_in_webhooks_and_ai_document_their_rate_limit(
    documents: dict[str, dict[str, Any]],
) -> None:
    for path, _, operation in operations(documents["write"]):
        limited = path.startswith(PUBLIC) or is_paid_ai(path)
        assert ("429" in operation["responses"]) == limited, path
        if limited:
            assert "RATE_LIMITED" in codes(operation, "429"), path


def test_no_header_is_documented_as_nullable(documents: dict[str, dict[str, Any]]) -> None:
    # A header cannot say null: a client (or a fuzzer) that sent the documented "null" got 422.
    for document in documents.values():
        for path, _, operation in operations(document):
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header":
                    assert "null" not in json.dumps(parameter["schema"]), (path, parameter)
    tasks = documents["read"]["paths"]["/api/v1/tasks"]["get"]["parameters"]
    wait = next(p for p in tasks if p["name"] == "X-Min-Position")
    assert wait["schema"] == {
        "type": "integer",
        "minimum": 0,
        "default": 0,
        "description": "Wait until this position.",
        "title": "X-Min-Position",
    }


def test_min_position_0_reads_without_waiting(service: Service) -> None:
    alice = service.sign_in()
    for params, headers in (({"min_position": 0}, {}), ({}, {"X-Min-Position": "0"})):
        response = service.read.get("/api/v1/tasks", params=params, headers={**alice, **headers})
        assert response.status_code == 200, response.text


def test_the_activity_export_documents_json_lines_and_csv(
    documents: dict[str, dict[str, Any]],
) -> None:
    export = documents["read"]["paths"]["/api/v1/activity/export"]["get"]["responses"]["200"]
    # It was documented as application/json, which it never is.
    assert set(export["content"]) == {"application/x-ndjson", "text/csv"}


def test_nothing_is_served_that_the_documents_do_not_list(
    service: Service, documents: dict[str, dict[str, Any]]
) -> None:
    alice = service.sign_in()
    shadows = ["/api/v0/tasks", "/api/v2/tasks", "/api/v1/admin/users", "/api/v1/internal"]
    for client, document in zip((service.write, service.read), documents.values(), strict=True):
        assert all(path.startswith(("/api/v1/", "/.well-known/")) for path in document["paths"])
        for path in [*shadows, "/admin", "/debug"]:
            for method in ("GET", "POST", "DELETE"):
                response = client.request(method, path, headers=alice)
                assert response.status_code == 404, (client.base_url, method, path)
