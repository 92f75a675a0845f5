"""A task's history and its past versions, replayed from the event store over HTTP."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def make_history(service: Service) -> tuple[dict[str, str], str, list[str]]:
    """A task created, renamed, completed and deleted; its owner, id and write positions."""
    alice = service.sign_in()
    created = service.create_task(alice, title="First title")
    task_id = created.json()["data"]["id"]
    renamed = service.write.patch(
        f"/api/v1/tasks/{task_id}", json={"version": 1, "title": "Second title"}, headers=alice
    )
    completed = service.write.post(f"/api/v1/tasks/{task_id}/complete", headers=alice)
    positions = [r.headers["X-Event-Position"] for r in (created, renamed, completed)]
    return alice, task_id, positions


def test_history_lists_every_event_in_order_with_positions(service: Service) -> None:
    alice, task_id, positions = make_history(service)
    response = service.read.get(f"/api/v1/tasks/{task_id}/history", headers=alice)
    assert response.status_code == 200, response.text
    entries = response.json()["data"]
    assert [e["type"] for e in entries] == ["Task.Created", "Task.Updated", "Task.Completed"]
    assert [e["version"] for e in entries] == [1, 2, 3]
    # Each event sits in the store before the last event its command appended, after the last
    # of the command before (a command may append to other aggregates too, e.g. the counter).
    bounds = [0, *map(int, positions)]
    for entry, (after, upto) in zip(entries, itertools.pairwise(bounds), strict=True):
        assert after < entry["position"] <= upto
    assert entries[1]["data"] == {"changes": {"title": "Second title"}}
    assert entries[0]["data"]["title"] == "First title"
    assert len({e["actor"] for e in entries}) == 1


def test_history_answers_at_once_whatever_position_it_is_asked_to_wait_for(
    service: Service,
) -> None:
    # It reads the store, which is never behind: a stuck task list must not hold it up.
    alice, task_id, positions = make_history(service)
    far_ahead = {**alice, "X-Min-Position": str(int(positions[-1]) + 10**9)}
    response = service.read.get(f"/api/v1/tasks/{task_id}/history", headers=far_ahead)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 3


def test_a_past_version_is_replayed(service: Service) -> None:
    alice, task_id, _ = make_history(service)
    first = service.read.get(f"/api/v1/tasks/{task_id}", params={"version": 1}, headers=alice)
    assert first.status_code == 200, first.text
    assert (first.json()["data"]["title"], first.json()["data"]["completed"]) == (
        "First title",
        False,
    )
    latest = service.read.get(f"/api/v1/tasks/{task_id}", params={"version": 3}, headers=alice)
    assert latest.json()["data"]["completed"] is True


def test_the_task_as_of_an_instant(service: Service) -> None:
    alice = service.sign_in()
    created = service.create_task(alice, title="Before").json()["data"]
    service.write.patch(
        f"/api/v1/tasks/{created['id']}", json={"version": 1, "title": "After"}, headers=alice
    )
    path = f"/api/v1/tasks/{created['id']}"
    then = service.read.get(path, params={"as_of": created["created_at"]}, headers=alice)
    assert then.status_code == 200, then.text
    assert (then.json()["data"]["title"], then.json()["data"]["version"]) == ("Before", 1)
    now = service.read.get(path, params={"as_of": datetime.now(UTC).isoformat()}, headers=alice)
    assert now.json()["data"]["title"] == "After"
    too_early = service.read.get(path, params={"as_of": "2000-01-01T00:00:00Z"}, headers=alice)
    assert too_early.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"version": 0},
        {"version": "two"},
        {"as_of": "yesterday"},
        {"as_of": "2026-01-01T00:00:00"},
        {"version": 1, "as_of": "2026-01-01T00:00:00Z"},
    ],
)
def test_bad_time_travel_parameters_are_422(service: Service, params: dict[str, object]) -> None:
    alice, task_id, _ = make_history(service)
    response = service.read.get(f"/api/v1/tasks/{task_id}", params=params, headers=alice)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_version_that_does_not_exist_is_404(service: Service) -> None:
    alice, task_id, _ = make_history(service)
    response = service.read.get(f"/api/v1/tasks/{task_id}", params={"version": 99}, headers=alice)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_another_users_history_and_versions_are_404(service: Service) -> None:
    _, task_id, _ = make_history(service)
    mallory = service.sign_in()
    for response in (
        service.read.get(f"/api/v1/tasks/{task_id}/history", headers=mallory),
        service.read.get(f"/api/v1/tasks/{task_id}", params={"version": 1}, headers=mallory),
        service.read.get(f"/api/v1/tasks/{uuid.uuid4()}/history", headers=mallory),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "TASK_NOT_FOUND"


def test_history_survives_deletion(service: Service) -> None:
    alice, task_id, _ = make_history(service)
    service.write.delete(f"/api/v1/tasks/{task_id}", headers=alice)
    entries = service.read.get(f"/api/v1/tasks/{task_id}/history", headers=alice).json()["data"]
    assert entries[-1]["type"] == "Task.Deleted"
    assert entries[-1]["data"]["title"] == "Second title"
