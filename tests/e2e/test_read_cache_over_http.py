"""The read API's cache of answered task pages, seen from clients over real HTTP: a cached page
is exactly the page a fresh read gives, never another user's, and never older than a write
the client waits for."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e

TASKS = "/api/v1/tasks"


def titles(response_json: dict[str, list[dict[str, str]]]) -> list[str]:
    return [task["title"] for task in response_json["data"]]


def test_a_page_read_again_is_the_same_answer(service: Service) -> None:
    alice = service.sign_in()
    created = service.create_task(alice, title="one")
    position = created.headers["X-Event-Position"]
    first = service.read.get(TASKS, headers={**alice, "X-Min-Position": position})
    again = service.read.get(TASKS, headers=alice)
    assert first.status_code == again.status_code == 200
    # Other events (of other tests' users) may move the position in between, nothing else.
    assert again.json()["data"] == first.json()["data"]
    for header in ("ETag", "Cache-Control", "Content-Type"):
        assert again.headers[header] == first.headers[header]
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    for read in (first, again):
        assert int(read.headers["X-Projection-Position"]) == read.json()["meta"]["position"]


def test_a_write_of_the_owner_replaces_the_cached_page_for_a_read_at_its_position(
    service: Service,
) -> None:
    alice = service.sign_in()
    first_position = service.create_task(alice, title="first").headers["X-Event-Position"]
    before = service.read.get(TASKS, headers={**alice, "X-Min-Position": first_position})
    assert titles(before.json()) == ["first"]
    service.read.get(TASKS, headers=alice)  # served from the cache, if anything is

    for title in ("second", "third"):
        written = service.create_task(alice, title=title)
        position = int(written.headers["X-Event-Position"])
        after = service.read.get(TASKS, headers={**alice, "X-Min-Position": str(position)})
        assert after.status_code == 200
        assert titles(after.json())[0] == title
        assert int(after.headers["X-Projection-Position"]) >= position
        assert after.json()["meta"]["position"] >= position
    edited = service.write.patch(
        f"{TASKS}/{written.json()['data']['id']}",
        json={"title": "third, edited", "version": written.json()["data"]["version"]},
        headers=alice,
    )
    assert edited.status_code == 200, edited.text
    read = service.read.get(
        TASKS, headers={**alice, "X-Min-Position": edited.headers["X-Event-Position"]}
    )
    assert titles(read.json()) == ["third, edited", "second", "first"]


def test_the_same_query_of_two_users_never_answers_the_other(service: Service) -> None:
    alice, bob = service.sign_in(), service.sign_in()
    service.create_task(alice, title="alice's")
    position = service.create_task(bob, title="bob's").headers["X-Event-Position"]
    for _ in range(2):  # the second round is served from the cache, if anything is
        for headers, mine in ((alice, ["alice's"]), (bob, ["bob's"])):
            read = service.read.get(
                TASKS, params={"limit": 50}, headers={**headers, "X-Min-Position": position}
            )
            assert titles(read.json()) == mine


def test_a_cached_page_honours_if_none_match(service: Service) -> None:
    alice = service.sign_in()
    position = service.create_task(alice, title="tagged").headers["X-Event-Position"]
    first = service.read.get(TASKS, headers={**alice, "X-Min-Position": position})
    etag = first.headers["ETag"]

    unchanged = service.read.get(TASKS, headers={**alice, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["ETag"] == etag
    assert "X-Projection-Position" in unchanged.headers
    weak_or_not = service.read.get(
        TASKS, headers={**alice, "If-None-Match": f'"other", {etag.removeprefix("W/")}'}
    )
    assert weak_or_not.status_code == 304

    other_tag = service.read.get(TASKS, headers={**alice, "If-None-Match": 'W/"other"'})
    assert other_tag.status_code == 200
    assert other_tag.content == first.content


def test_without_a_valid_token_the_cache_answers_nothing(service: Service) -> None:
    alice = service.sign_in()
    position = service.create_task(alice, title="private").headers["X-Event-Position"]
    assert service.read.get(TASKS, headers={**alice, "X-Min-Position": position}).is_success
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        refused = service.read.get(TASKS, headers=headers)
        assert refused.status_code == 401
        assert "private" not in refused.text


def test_a_client_waiting_for_a_position_past_every_page_still_gets_503(
    service: Service,
) -> None:
    alice = service.sign_in()
    position = service.create_task(alice, title="soon").headers["X-Event-Position"]
    assert service.read.get(TASKS, headers={**alice, "X-Min-Position": position}).is_success
    lagging = service.read.get(TASKS, headers={**alice, "X-Min-Position": str(10**12)})
    assert lagging.status_code == 503
    assert lagging.json()["error"]["code"] == "PROJECTION_LAGGING"


def test_a_query_string_seen_before_still_waits_for_the_position_it_names(
    service: Service,
) -> None:
    alice = service.sign_in()
    position = service.create_task(alice, title="seen").headers["X-Event-Position"]
    params = {"limit": "7", "sort": "priority"}
    for _ in range(2):  # the second time, the route knows the string
        seen = service.read.get(TASKS, params=params, headers={**alice, "X-Min-Position": position})
        assert titles(seen.json()) == ["seen"]
    waiting = {**params, "min_position": str(10**12)}
    for _ in range(2):
        lagging = service.read.get(TASKS, params=waiting, headers=alice)
        assert lagging.status_code == 503
        assert lagging.json()["error"]["code"] == "PROJECTION_LAGGING"
    lagging = service.read.get(TASKS, params=params, headers={**alice, "X-Min-Position": "10" * 6})
    assert lagging.status_code == 503


def test_a_query_string_that_failed_validation_fails_every_time(service: Service) -> None:
    alice = service.sign_in()
    for params in ({"limit": "0"}, {"sort": "title"}, {"cursor": "garbage!"}):
        for _ in range(2):
            refused = service.read.get(TASKS, params=params, headers=alice)
            assert refused.status_code == 422, (params, refused.text)
            assert refused.json()["error"]["code"] == "VALIDATION_ERROR"
