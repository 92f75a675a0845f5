"""Text the read model cannot hold is refused at the door, on every field, in both apps.

A NUL in one task title used to be accepted, stored forever, and then stop the projections
for every user. Each case here is one way in: it must answer 422 naming the field, store
nothing, and leave the read side serving everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e

NUL = "\u0000"


@dataclass(frozen=True)
class Owner:
    """A user with a task that has a subtask and a note: something for every command to hit."""

    headers: dict[str, str]
    task_id: str
    subtask_id: str
    note_id: str
    version: int


def owner_with_a_task(service: Service) -> Owner:
    headers = service.sign_in()
    task_id = service.create_task(headers).json()["data"]["id"]
    subtask = service.write.post(
        f"/api/v1/tasks/{task_id}/subtasks", json={"title": "Outline"}, headers=headers
    )
    note = service.write.post(
        f"/api/v1/tasks/{task_id}/notes", json={"content": "Ask Sam"}, headers=headers
    )
    assert subtask.status_code == note.status_code == 201, (subtask.text, note.text)
    task = service.read.get(
        f"/api/v1/tasks/{task_id}",
        headers={**headers, "X-Min-Position": note.headers["X-Event-Position"]},
    )
    return Owner(
        headers,
        task_id,
        subtask.json()["data"]["id"],
        note.json()["data"]["id"],
        task.json()["data"]["version"],
    )


Send = Callable[[Service, Owner, str], httpx.Response]


def task_title(service: Service, owner: Owner, text: str) -> httpx.Response:
    return service.write.post("/api/v1/tasks", json={"title": text}, headers=owner.headers)


def task_description(service: Service, owner: Owner, text: str) -> httpx.Response:
    body = {"title": "Plain", "description": text}
    return service.write.post("/api/v1/tasks", json=body, headers=owner.headers)


def patched_title(service: Service, owner: Owner, text: str) -> httpx.Response:
    body = {"version": owner.version, "title": text}
    return service.write.patch(f"/api/v1/tasks/{owner.task_id}", json=body, headers=owner.headers)


def patched_description(service: Service, owner: Owner, text: str) -> httpx.Response:
    body = {"version": owner.version, "description": text}
    return service.write.patch(f"/api/v1/tasks/{owner.task_id}", json=body, headers=owner.headers)


def note(service: Service, owner: Owner, text: str) -> httpx.Response:
    path = f"/api/v1/tasks/{owner.task_id}/notes"
    return service.write.post(path, json={"content": text}, headers=owner.headers)


def edited_note(service: Service, owner: Owner, text: str) -> httpx.Response:
    path = f"/api/v1/tasks/{owner.task_id}/notes/{owner.note_id}"
    return service.write.patch(path, json={"content": text}, headers=owner.headers)


def subtask_title(service: Service, owner: Owner, text: str) -> httpx.Response:
    path = f"/api/v1/tasks/{owner.task_id}/subtasks"
    return service.write.post(path, json={"title": text}, headers=owner.headers)


def renamed_subtask(service: Service, owner: Owner, text: str) -> httpx.Response:
    path = f"/api/v1/tasks/{owner.task_id}/subtasks/{owner.subtask_id}"
    return service.write.patch(path, json={"title": text}, headers=owner.headers)


def profile_name(service: Service, owner: Owner, text: str) -> httpx.Response:
    return service.write.patch("/api/v1/users/me", json={"name": text}, headers=owner.headers)


def profile_timezone(service: Service, owner: Owner, text: str) -> httpx.Response:
    body = {"timezone": f"Europe/Paris{text}"}
    return service.write.patch("/api/v1/users/me", json=body, headers=owner.headers)


def dev_login_name(service: Service, owner: Owner, text: str) -> httpx.Response:
    body = {"email": "nul-name@example.com", "name": text}
    return service.write.post("/api/v1/auth/dev-login", json=body)


def dev_login_email(service: Service, owner: Owner, text: str) -> httpx.Response:
    body = {"email": f"nul{text}@example.com", "name": "Nul"}
    return service.write.post("/api/v1/auth/dev-login", json=body)


def search(service: Service, owner: Owner, text: str) -> httpx.Response:
    return service.read.get("/api/v1/tasks", params={"search": text}, headers=owner.headers)


def activity_filter(service: Service, owner: Owner, text: str) -> httpx.Response:
    params = {"entity_type": text}
    return service.read.get("/api/v1/activity", params=params, headers=owner.headers)


def task_list_cursor(service: Service, owner: Owner, text: str) -> httpx.Response:
    return service.read.get("/api/v1/tasks", params={"cursor": text}, headers=owner.headers)


def write_query(service: Service, owner: Owner, text: str) -> httpx.Response:
    path = f"/api/v1/tasks/{owner.task_id}/complete"
    return service.write.post(path, params={"force": text}, headers=owner.headers)


DESCRIPTION = pytest.param(task_description, ["body", "description"], id="task description")
SEARCH = pytest.param(search, ["query", "search"], id="search")
FIELDS = [
    pytest.param(task_title, ["body", "title"], id="task title"),
    DESCRIPTION,
    pytest.param(patched_title, ["body", "title"], id="PATCH title"),
    pytest.param(patched_description, ["body", "description"], id="PATCH description"),
    pytest.param(note, ["body", "content"], id="note"),
    pytest.param(edited_note, ["body", "content"], id="edited note"),
    pytest.param(subtask_title, ["body", "title"], id="subtask title"),
    pytest.param(renamed_subtask, ["body", "title"], id="renamed subtask"),
    pytest.param(profile_name, ["body", "name"], id="profile name"),
    pytest.param(profile_timezone, ["body", "timezone"], id="profile timezone"),
    pytest.param(dev_login_name, ["body", "name"], id="dev-login name"),
    pytest.param(dev_login_email, ["body", "email"], id="dev-login email"),
    SEARCH,
    pytest.param(activity_filter, ["query", "entity_type"], id="activity filter"),
    pytest.param(task_list_cursor, ["query", "cursor"], id="cursor"),
    pytest.param(write_query, ["query", "force"], id="write API query"),
]


def store_head(service: Service) -> int:
    head: int = service.write.get("/health/ready").json()["event_store_head"]
    return head


def what_the_owner_sees(service: Service, owner: Owner, head: int) -> tuple[Any, ...]:
    wait = {**owner.headers, "X-Min-Position": str(head)}
    tasks = service.read.get("/api/v1/tasks", headers=wait)
    activity = service.read.get("/api/v1/activity", params={"limit": 100}, headers=wait)
    me = service.read.get("/api/v1/users/me", headers=wait)
    for response in (tasks, activity, me):
        assert response.status_code == 200, response.text
    return tasks.json()["data"], activity.json()["data"], me.json()["data"]


def assert_refused(response: httpx.Response, loc: list[str], error_type: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert [(f["loc"], f["type"]) for f in error["details"]["fields"]] == [(loc, error_type)]


@pytest.mark.parametrize(("send", "loc"), FIELDS)
def test_a_nul_in_any_text_is_422_naming_the_field_and_stores_nothing(
    service: Service, send: Send, loc: list[str]
) -> None:
    owner = owner_with_a_task(service)
    head = store_head(service)
    before = what_the_owner_sees(service, owner, head)

    assert_refused(send(service, owner, f"a{NUL}b"), loc, "forbidden_character")

    assert store_head(service) == head
    assert what_the_owner_sees(service, owner, head) == before


@pytest.mark.parametrize("character", ["\u0001", "\u0007", "\u000b", "\u001b", "\u001f"])
@pytest.mark.parametrize(("send", "loc"), [DESCRIPTION, SEARCH])
def test_other_control_characters_are_422_too(
    service: Service, send: Send, loc: list[str], character: str
) -> None:
    owner = owner_with_a_task(service)
    head = store_head(service)
    assert_refused(send(service, owner, f"a{character}b"), loc, "forbidden_character")
    assert store_head(service) == head


def test_tab_newline_and_carriage_return_are_text(service: Service) -> None:
    owner = owner_with_a_task(service)
    description = "Steps:\n\t1. plan\r\n\t2. do — ✓ 🎉"
    created = task_description(service, owner, description)
    assert created.status_code == 201, created.text
    task = service.read.get(
        f"/api/v1/tasks/{created.json()['data']['id']}",
        headers={**owner.headers, "X-Min-Position": created.headers["X-Event-Position"]},
    )
    assert task.json()["data"]["description"] == description
    assert search(service, owner, "two\twords").status_code == 200


def test_a_lone_surrogate_is_422(service: Service) -> None:
    owner = owner_with_a_task(service)
    head = store_head(service)
    # Written by hand: a JSON encoder would refuse to produce it.
    body = b'{"title": "a\\ud800b"}'
    response = service.write.post(
        "/api/v1/tasks",
        content=body,
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    # pydantic's own string check refuses it before ours runs.
    assert_refused(response, ["body", "title"], "string_unicode")
    # The same code point sent UTF-8-encoded in a query is not UTF-8 at all.
    assert_refused(
        service.read.get("/api/v1/tasks?search=a%ED%A0%80b", headers=owner.headers),
        ["query", "search"],
        "unicode_decode",
    )
    assert store_head(service) == head


def test_invalid_utf8_is_a_client_error_in_the_envelope(service: Service) -> None:
    owner = owner_with_a_task(service)
    head = store_head(service)
    body = service.write.post(
        "/api/v1/tasks",
        content=b'{"title": "caf\xe9"}',
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    # FastAPI answers it before any model sees the body (decision 27).
    assert body.status_code == 400, body.text
    assert body.json()["error"]["code"] == "BAD_REQUEST"
    assert body.json()["error"]["request_id"] == body.headers["X-Request-ID"]
    assert_refused(
        service.read.get("/api/v1/tasks?search=%FF", headers=owner.headers),
        ["query", "search"],
        "unicode_decode",
    )
    assert_refused(
        service.read.get("/api/v1/tasks?%FF=1", headers=owner.headers), ["query"], "unicode_decode"
    )
    assert store_head(service) == head


def test_an_anonymous_request_is_401_before_its_text_is_looked_at(service: Service) -> None:
    assert service.read.get("/api/v1/tasks?search=%00").status_code == 401
    assert service.write.post("/api/v1/tasks", json={"title": NUL}).status_code == 401


def test_after_refused_text_everyone_else_reads_their_writes_at_once(service: Service) -> None:
    mallory = owner_with_a_task(service)
    for send, _ in (param.values for param in FIELDS):
        assert send(service, mallory, NUL).status_code == 422

    alice = service.sign_in()
    created = service.create_task(alice, title="Still works")
    position = created.headers["X-Event-Position"]
    tasks = service.read.get("/api/v1/tasks", headers={**alice, "X-Min-Position": position})
    assert tasks.status_code == 200, tasks.text
    assert [task["title"] for task in tasks.json()["data"]] == ["Still works"]
    activity = service.read.get("/api/v1/activity", headers={**alice, "X-Min-Position": position})
    assert activity.status_code == 200, activity.text
    assert service.read.get("/health/ready").status_code == 200
