"""The answers of the shared middlewares are in the OpenAPI document of every operation."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from infra.auth import CurrentPrincipal
from infra.errors import error_responses
from infra.http import install_common
from infra.keys import KeySet, generate_key_pair, load_key_set
from infra.openapi import document_answers
from infra.settings import Settings
from infra.tokens import TokenVerifier

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


class DomainError(Exception):
    code = "DOMAIN_ERROR"


class NewThing(BaseModel):
    title: str


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeySet:
    directory: Path = tmp_path_factory.mktemp("keys")
    generate_key_pair(directory, "k1")
    settings = Settings(_env_file=None, jwt_private_key_file=directory / "k1.private.pem")  # type: ignore[call-arg]
    return load_key_set(settings, need_private=True)


@pytest.fixture(scope="module")
def document(keys: KeySet) -> dict[str, Any]:
    app = FastAPI()

    async def ready() -> dict[str, Any]:
        return {"ready": True}

    install_common(
        app,
        Settings(_env_file=None),  # type: ignore[call-arg]
        service="test",
        verifier=TokenVerifier(keys, "perpetua", "perpetua-api"),
        readiness=ready,
        domain_error=DomainError,
    )
    document_answers(app, "RATE_LIMITED", where=lambda path, *_: path.startswith("/api/v1/auth/"))

    @app.get("/api/v1/things/{thing_id}", responses=error_responses("TASK_NOT_FOUND"))
    def get_thing(thing_id: uuid.UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        return {}

    @app.post("/api/v1/things", responses=error_responses("VALIDATION_ERROR", "DUE_DATE_TOO_FAR"))
    def create_thing(thing: NewThing, principal: CurrentPrincipal) -> dict[str, Any]:
        return {}

    @app.post("/api/v1/auth/login")
    def login(thing: NewThing) -> dict[str, Any]:
        return {}

    with TestClient(app) as client:
        schema: dict[str, Any] = client.get("/openapi.json").json()
    return schema


def codes(response: dict[str, Any]) -> list[str]:
    assert response["content"]["application/json"]["schema"] == ENVELOPE
    return list(response["content"]["application/json"]["examples"])


def test_every_protected_operation_documents_401(document: dict[str, Any]) -> None:
    for path, method in (("/api/v1/things/{thing_id}", "get"), ("/api/v1/things", "post")):
        responses = document["paths"][path][method]["responses"]
        assert codes(responses["401"]) == ["UNAUTHENTICATED", "INVALID_TOKEN"]
    assert "401" not in document["paths"]["/api/v1/auth/login"]["post"]["responses"]


def test_operations_with_a_body_document_400_and_413(document: dict[str, Any]) -> None:
    create = document["paths"]["/api/v1/things"]["post"]["responses"]
    assert codes(create["400"]) == ["BAD_REQUEST"]
    assert codes(create["413"]) == ["PAYLOAD_TOO_LARGE"]
    read = document["paths"]["/api/v1/things/{thing_id}"]["get"]["responses"]
    assert "413" not in read


def test_every_422_is_the_envelope_and_keeps_the_routes_own_codes(
    document: dict[str, Any],
) -> None:
    create = document["paths"]["/api/v1/things"]["post"]["responses"]
    assert codes(create["422"]) == ["VALIDATION_ERROR", "DUE_DATE_TOO_FAR"]
    assert "`DUE_DATE_TOO_FAR`" in create["422"]["description"]
    read = document["paths"]["/api/v1/things/{thing_id}"]["get"]["responses"]
    assert codes(read["422"]) == ["VALIDATION_ERROR"]
    assert codes(read["414"]) == ["URI_TOO_LONG"]
    # FastAPI's own 422 shape is gone from the document, not merely unused.
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "ErrorBody" in document["components"]["schemas"]


def test_answers_documented_by_one_app_apply_where_it_says(document: dict[str, Any]) -> None:
    login = document["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert codes(login["429"]) == ["RATE_LIMITED"]
    assert "429" not in document["paths"]["/api/v1/things"]["post"]["responses"]


def test_an_unknown_code_is_refused_when_documented() -> None:
    with pytest.raises(ValueError, match="NO_SUCH_CODE"):
        document_answers(FastAPI(), "NO_SUCH_CODE")
