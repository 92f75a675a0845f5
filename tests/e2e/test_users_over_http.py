"""Your own profile: read it, change it, and the limits that apply to you."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def sign_in(service: Service, email: str) -> tuple[dict[str, str], str]:
    response = service.write.post("/api/v1/auth/dev-login", json={"email": email, "name": "Gil"})
    assert response.status_code == 200
    token = response.json()["data"]["access_token"]
    return {"Authorization": f"Bearer {token}"}, response.headers["X-Event-Position"]


def me(service: Service, headers: dict[str, str], position: str) -> Any:
    response = service.read.get("/api/v1/users/me", headers={**headers, "X-Min-Position": position})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_me_shows_profile_tier_and_effective_limits(service: Service) -> None:
    headers, position = sign_in(service, "gil@example.com")
    profile = me(service, headers, position)
    assert (profile["email"], profile["name"], profile["tier"], profile["timezone"]) == (
        "gil@example.com",
        "Gil",
        "free",
        "UTC",
    )
    assert profile["limits"] == {
        "active_tasks": 50,
        "subtasks_per_task": 4,
        "notes_per_task": 10,
        "reminders_per_task": 3,
        "description_length": 1000,
        "daily_credits": 10,
    }


def test_profile_changes_show_up_in_me(service: Service) -> None:
    headers, _ = sign_in(service, "hana@example.com")
    changed = service.write.patch(
        "/api/v1/users/me",
        json={
            "name": "Hana",
            "timezone": "Europe/Paris",
            "avatar_url": "https://example.com/a.png",
        },
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["timezone"] == "Europe/Paris"
    profile = me(service, headers, changed.headers["X-Event-Position"])
    assert (profile["name"], profile["timezone"], profile["avatar_url"]) == (
        "Hana",
        "Europe/Paris",
        "https://example.com/a.png",
    )
    cleared = service.write.patch("/api/v1/users/me", json={"avatar_url": None}, headers=headers)
    assert me(service, headers, cleared.headers["X-Event-Position"])["avatar_url"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"timezone": "Mars/Olympus"},
        {"timezone": "../../etc/passwd"},
        {"timezone": None},
        {"name": ""},
        {"name": None},
        {"name": "x" * 101},
        {"avatar_url": "javascript:alert(1)"},
        {"tier": "pro"},
        {"email": "other@example.com"},
    ],
)
def test_bad_profile_changes_are_422_and_change_nothing(
    service: Service, body: dict[str, Any]
) -> None:
    headers, position = sign_in(service, "ivo@example.com")
    response = service.write.patch("/api/v1/users/me", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    profile = me(service, headers, position)
    assert (profile["tier"], profile["timezone"], profile["avatar_url"]) == ("free", "UTC", None)


def test_me_needs_a_token(service: Service) -> None:
    assert service.read.get("/api/v1/users/me").status_code == 401
    assert service.write.patch("/api/v1/users/me", json={"name": "x"}).status_code == 401
