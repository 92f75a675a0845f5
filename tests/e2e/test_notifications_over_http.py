"""Notifications over HTTP: newest first, filtered by read state, paged, counted."""

from __future__ import annotations

import pytest

from aggregates.inbox import Inbox, notification_id
from commands.application import PerpetuaApplication
from tests.e2e.conftest import Service
from tests.e2e.support import read, saved, singleton

pytestmark = pytest.mark.e2e


def test_notifications_list_newest_first_with_read_flags_and_the_unread_count(
    service: Service, store: PerpetuaApplication
) -> None:
    headers, user_id, _ = service.sign_up()
    inbox = singleton(store, Inbox, user_id)
    for number in range(5):
        inbox.post(kind="test", key=str(number), title=f"note {number}", body="hello")
    saved(store, inbox)
    for number in (1, 3):
        inbox.mark_read(notification_id(user_id, "test", str(number)))
    position = saved(store, inbox)

    everything = read(service, "/api/v1/notifications", headers, position)
    titles = [n["title"] for n in everything["data"]]
    assert titles[:5] == ["note 4", "note 3", "note 2", "note 1", "note 0"]
    assert everything["meta"]["unread_count"] == inbox.unread_count
    by_title = {n["title"]: n for n in everything["data"]}
    assert (by_title["note 3"]["read"], by_title["note 4"]["read"]) == (True, False)
    assert by_title["note 3"]["read_at"] is not None
    unread = read(service, "/api/v1/notifications", headers, position, unread="true")["data"]
    assert {n["title"] for n in unread} >= {"note 0", "note 2", "note 4"}
    assert all(not n["read"] for n in unread)
    already = read(service, "/api/v1/notifications", headers, position, unread="false")["data"]
    assert [n["title"] for n in already] == ["note 3", "note 1"]

    inbox.mark_all_read()
    after = read(service, "/api/v1/notifications", headers, saved(store, inbox), unread="true")
    assert (after["data"], after["meta"]["unread_count"]) == ([], 0)


def test_notification_pages_hold_every_one_exactly_once(
    service: Service, store: PerpetuaApplication
) -> None:
    headers, user_id, _ = service.sign_up()
    inbox = singleton(store, Inbox, user_id)
    for number in range(7):
        inbox.post(kind="test", key=str(number), title=f"note {number}", body="")
    position = saved(store, inbox)
    expected = [n["id"] for n in read(service, "/api/v1/notifications", headers, position)["data"]]
    assert len(expected) == len(inbox.notifications)

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = read(service, "/api/v1/notifications", headers, position, **params)
        seen += [n["id"] for n in page["data"]]
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == expected


def test_an_unchanged_list_answers_304(service: Service) -> None:
    headers, _, position = service.sign_up()
    first = service.read.get(
        "/api/v1/notifications", headers={**headers, "X-Min-Position": position}
    )
    again = service.read.get(
        "/api/v1/notifications", headers={**headers, "If-None-Match": first.headers["ETag"]}
    )
    assert (first.status_code, again.status_code) == (200, 304)


@pytest.mark.parametrize(
    "params",
    [{"unread": "maybe"}, {"limit": 0}, {"limit": 101}, {"cursor": "bm90IG91cnM"}],
)
def test_bad_notification_queries_are_422(service: Service, params: dict[str, object]) -> None:
    response = service.read.get("/api/v1/notifications", params=params, headers=service.sign_in())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_notifications_need_a_token(service: Service) -> None:
    response = service.read.get("/api/v1/notifications")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "UNAUTHENTICATED")


def test_someone_elses_notification_is_404_and_stays_unread(
    service: Service, store: PerpetuaApplication
) -> None:
    alice, alice_id, _ = service.sign_up()
    mallory = service.sign_in()
    inbox = singleton(store, Inbox, alice_id)
    inbox.post(kind="test", key="private", title="for alice", body="hello")
    position = saved(store, inbox)
    their_id = notification_id(alice_id, "test", "private")

    response = service.write.post(f"/api/v1/notifications/{their_id}/read", headers=mallory)
    assert response.status_code == 404, response.text
    unread = read(service, "/api/v1/notifications", alice, position, unread="true")["data"]
    assert [n["title"] for n in unread if n["id"] == str(their_id)] == ["for alice"]
