"""Google sign-in through google-auth, against a loopback server that speaks Google's protocol."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from commands.application import PerpetuaApplication
from infra.keys import load_key_set
from infra.settings import Settings
from tests.e2e.conftest import Service
from tests.fakes.google_certs import FakeGoogle, new_key_and_cert
from writeapi.main import create_app

pytestmark = pytest.mark.e2e


def google_login(service: Service, token: str) -> Any:
    return service.write.post("/api/v1/auth/google", json={"id_token": token})


def test_a_valid_google_token_signs_in_and_registers_once(
    service: Service, google: FakeGoogle
) -> None:
    first = google_login(service, google.mint(sub="google-sub-1", email="Kim@Example.com"))
    assert first.status_code == 200, first.text
    body = first.json()["data"]
    assert (body["user"]["email"], body["user"]["name"], body["token_type"]) == (
        "kim@example.com",
        "Gina",
        "Bearer",
    )
    again = google_login(service, google.mint(sub="google-sub-1", email="kim@example.com"))
    assert again.json()["data"]["user"]["id"] == body["user"]["id"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert service.read.get("/api/v1/tasks", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("sub", "name", "shown"),
    [
        ("nul-name-1", "Gi\u0000na\u0007", "Gina"),
        ("nul-name-2", "\u0000\u001b ", "nul@example.com"),
        ("nul-name-3", "\ud800", "nul@example.com"),
    ],
)
def test_a_google_name_with_control_characters_signs_in_with_them_stripped(
    service: Service, google: FakeGoogle, sub: str, name: str, shown: str
) -> None:
    # Refusing would lock the user out over what Google sends: the name is cleaned instead,
    # and with nothing left of it the e-mail address stands in.
    response = google_login(service, google.mint(sub=sub, email="nul@example.com", name=name))
    assert response.status_code == 200, response.text
    body = response.json()["data"]
    assert body["user"]["name"] == shown
    me = service.read.get(
        "/api/v1/users/me",
        headers={
            "Authorization": f"Bearer {body['access_token']}",
            "X-Min-Position": response.headers["X-Event-Position"],
        },
    )
    assert me.status_code == 200, me.text
    assert me.json()["data"]["name"] == shown


@pytest.mark.parametrize("claims", [{"sub": "nul\u0000sub"}, {"email": "nul\u0000@example.com"}])
def test_a_google_subject_or_email_with_control_characters_is_401(
    service: Service, google: FakeGoogle, claims: dict[str, str]
) -> None:
    response = google_login(service, google.mint(**claims))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "INVALID_TOKEN"


def test_certificates_are_fetched_once_and_cached(service: Service, google: FakeGoogle) -> None:
    google_login(service, google.mint(sub="cache-1"))
    before = google.requests
    for number in range(3):
        assert google_login(service, google.mint(sub=f"cache-{number}")).status_code == 200
    assert google.requests == before


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-elses-app.apps.googleusercontent.com"},
        {"iss": "https://evil.example.com"},
        {"email_verified": False},
        {"email_verified": None},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"sub": None},
    ],
)
def test_tokens_google_would_not_vouch_for_are_401(
    service: Service, google: FakeGoogle, claims: dict[str, Any]
) -> None:
    response = google_login(service, google.mint(**claims))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "INVALID_TOKEN"


def test_a_token_signed_by_another_key_is_401(service: Service, google: FakeGoogle) -> None:
    other_key, _ = new_key_and_cert()
    response = google_login(service, google.mint(private_pem=other_key))
    assert response.status_code == 401


@pytest.mark.parametrize("body", [{}, {"id_token": ""}, {"id_token": "x" * 4097}, {"token": "x"}])
def test_bad_bodies_are_422(service: Service, body: dict[str, str]) -> None:
    response = service.write.post("/api/v1/auth/google", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_garbage_token_is_401(service: Service) -> None:
    assert google_login(service, "not.a.token").status_code == 401


def test_without_client_ids_google_sign_in_is_not_configured(tmp_path: Path) -> None:
    settings = Settings(perpetua_env="dev", perpetua_data_dir=tmp_path, google_client_ids=[])
    application = PerpetuaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = create_app(settings, application, load_key_set(settings, need_private=True))
    with TestClient(app) as client:
        response = client.post("/api/v1/auth/google", json={"id_token": "anything"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "AUTH_NOT_CONFIGURED"


def test_unreachable_certificates_are_503_not_401(tmp_path: Path, google: FakeGoogle) -> None:
    settings = Settings(
        perpetua_env="dev",
        perpetua_data_dir=tmp_path,
        google_client_ids=["x"],
        google_certs_url="http://127.0.0.1:9/nothing-listens-here",
    )
    application = PerpetuaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = create_app(settings, application, load_key_set(settings, need_private=True))
    with TestClient(app) as client:
        response = client.post("/api/v1/auth/google", json={"id_token": google.mint()})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
