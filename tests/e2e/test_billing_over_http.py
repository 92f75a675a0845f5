"""The billing webhook over HTTP: signed, applied once, and felt by the very next command."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def event(event_type: str, user_id: str, **data: Any) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "created_at": datetime.now(UTC).isoformat(),
        "data": {"user_id": user_id, **data},
    }


def next_month() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).isoformat()


def ledger_activity(service: Service, headers: dict[str, str], position: str) -> list[str]:
    response = service.read.get(
        "/api/v1/activity",
        params={"entity_type": "credit_ledger", "order": "asc", "limit": 100},
        headers={**headers, "X-Min-Position": position},
    )
    assert response.status_code == 200, response.text
    return [row["action"] for row in response.json()["data"]]


def test_a_webhook_replayed_three_times_grants_once(service: Service) -> None:
    headers, user_id = service.sign_in_user()
    purchase = event("credits.purchased", user_id, credits=25)
    answers = [service.billing(purchase) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["data"]["duplicate"] for a in answers] == [False, True, True]
    position = answers[0].headers["X-Event-Position"]
    assert ledger_activity(service, headers, position).count("credits_purchased") == 1


def test_a_wrong_or_missing_signature_is_401_and_records_nothing(service: Service) -> None:
    headers, user_id = service.sign_in_user()
    head_before = service.write.get("/health/ready").json()["event_store_head"]
    purchase = event("credits.purchased", user_id, credits=25)
    forged = service.billing(purchase, secret="not-the-secret")
    unsigned = service.write.post("/api/v1/webhooks/billing", json=purchase)
    for response in (forged, unsigned):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "INVALID_SIGNATURE"
    assert service.write.get("/health/ready").json()["event_store_head"] == head_before
    # The same event, properly signed afterwards, is new: nothing of the forgery was kept.
    signed = service.billing(purchase)
    assert signed.json()["data"]["duplicate"] is False
    position = signed.headers["X-Event-Position"]
    assert ledger_activity(service, headers, position).count("credits_purchased") == 1


def test_activation_gives_pro_limits_to_the_next_command_with_an_older_token(
    service: Service,
) -> None:
    headers, user_id = service.sign_in_user()  # this token says "free"
    task_id = service.create_task(headers).json()["data"]["id"]
    for number in range(4):
        added = service.write.post(
            f"/api/v1/tasks/{task_id}/subtasks", json={"title": f"step {number}"}, headers=headers
        )
        assert added.status_code == 201, added.text
    fifth = {"title": "step 5"}
    refused = service.write.post(f"/api/v1/tasks/{task_id}/subtasks", json=fifth, headers=headers)
    assert refused.json()["error"]["code"] == "SUBTASK_LIMIT_EXCEEDED"
    activated = service.billing(event("subscription.activated", user_id, period_end=next_month()))
    assert activated.status_code == 200, activated.text
    accepted = service.write.post(f"/api/v1/tasks/{task_id}/subtasks", json=fifth, headers=headers)
    assert accepted.status_code == 201, accepted.text
    # Answers (and tokens issued from now on) show the new tier, for display.
    profile = service.write.patch("/api/v1/users/me", json={"name": "Pro"}, headers=headers)
    assert profile.json()["data"]["tier"] == "pro"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda body: body.update(type="subscription.paused"), "type"),
        (lambda body: body["data"].update(user_id=str(uuid.uuid4())), None),
        (lambda body: body["data"].update(user_id="not-a-uuid"), "user_id"),
        (lambda body: body["data"].pop("period_end"), None),
        (lambda body: body.pop("id"), "id"),
        (lambda body: body["data"].update(period_end="tomorrow"), "period_end"),
    ],
)
def test_bad_billing_events_are_422_and_change_nothing(
    service: Service, mutate: Any, field: str | None
) -> None:
    _, user_id = service.sign_in_user()
    body = event("subscription.activated", user_id, period_end=next_month())
    mutate(body)
    head_before = service.write.get("/health/ready").json()["event_store_head"]
    response = service.billing(body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    if field is not None:
        assert field in str(error["details"])
    assert service.write.get("/health/ready").json()["event_store_head"] == head_before


def test_a_signed_body_that_is_not_json_is_422(service: Service) -> None:
    response = service.billing(b"{not json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_notifications_are_marked_read_one_or_all(service: Service) -> None:
    headers, user_id = service.sign_in_user()
    service.billing(event("subscription.activated", user_id, period_end=next_month()))
    task_id = service.create_task(headers).json()["data"]["id"]
    done = service.write.post(f"/api/v1/tasks/{task_id}/complete", headers=headers)
    assert done.status_code == 200, done.text
    # "Welcome to Pro" and the first achievement.
    marked = service.write.post("/api/v1/notifications/read-all", headers=headers)
    assert marked.status_code == 200
    assert marked.json()["data"] == {"marked_read": 2}
    again = service.write.post("/api/v1/notifications/read-all", headers=headers)
    assert again.json()["data"] == {"marked_read": 0}
    unknown = service.write.post(f"/api/v1/notifications/{uuid.uuid4()}/read", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "NOT_FOUND"
    not_an_id = service.write.post("/api/v1/notifications/nope/read", headers=headers)
    assert not_an_id.status_code == 422
    anonymous = service.write.post("/api/v1/notifications/read-all")
    assert anonymous.status_code == 401
