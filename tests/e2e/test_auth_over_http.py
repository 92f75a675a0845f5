"""Dev sign-in, refresh and logout over HTTP."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def dev_login(service: Service, email: str) -> dict[str, object]:
    response = service.write.post("/api/v1/auth/dev-login", json={"email": email, "name": "Dana"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()["data"]
    return body


def test_dev_login_answers_like_a_sign_in(service: Service) -> None:
    body = dev_login(service, "Dana@Example.com")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert isinstance(body["refresh_token"], str)
    user = body["user"]
    assert isinstance(user, dict)
    assert (user["email"], user["tier"]) == ("dana@example.com", "free")
    again = dev_login(service, "dana@example.com")
    assert again["user"] == user


def test_refresh_rotates_and_reuse_is_detected(service: Service) -> None:
    first = dev_login(service, "erin@example.com")
    refreshed = service.write.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()["data"]
    assert new["refresh_token"] != first["refresh_token"]
    headers = {"Authorization": f"Bearer {new['access_token']}"}
    assert service.read.get("/api/v1/tasks", headers=headers).status_code == 200

    reused = service.write.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "REFRESH_TOKEN_REUSED"
    descendant = service.write.post(
        "/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]}
    )
    assert descendant.status_code == 401
    assert descendant.json()["error"]["code"] == "INVALID_TOKEN"


def test_logout_ends_the_session(service: Service) -> None:
    body = dev_login(service, "frank@example.com")
    out = service.write.post("/api/v1/auth/logout", json={"refresh_token": body["refresh_token"]})
    assert out.status_code == 200, out.text
    assert out.json()["data"] == {"revoked": True}
    after = service.write.post(
        "/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}
    )
    assert after.status_code == 401


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/dev-login", {"email": "not-an-email", "name": "x"}),
        ("/api/v1/auth/dev-login", {"email": "a@example.com", "name": ""}),
        ("/api/v1/auth/dev-login", {"email": "a@example.com"}),
        ("/api/v1/auth/refresh", {}),
        ("/api/v1/auth/refresh", {"refresh_token": ""}),
        ("/api/v1/auth/logout", {"refresh_token": "x" * 513}),
    ],
)
def test_bad_auth_bodies_are_422(service: Service, path: str, body: dict[str, str]) -> None:
    response = service.write.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_garbage_refresh_token_is_401(service: Service) -> None:
    response = service.write.post("/api/v1/auth/refresh", json={"refresh_token": "garbage"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_TOKEN"
