"""Schemathesis against both apps' OpenAPI documents, over HTTP, as a signed-in user.

Every documented operation gets requests generated from its schema: valid ones, invalid ones,
and valid ones that name the user's own things (so they get past 404), each run from a fixed
seed with a fixed number of examples. Every answer must be no 5xx, a documented status code,
the documented content type and headers, and a body that matches the documented schema; an
operation that declares the bearer scheme must refuse the same request without a token.
Failures are collected over every operation and reported together. Afterwards every projection
must catch up with the store: nothing the fuzzer got recorded may stop one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aggregates.inbox import Inbox, notification_id
from commands.application import PerpetuaApplication
from tests.e2e.conftest import BILLING_SECRET, Service
from tests.e2e.support import saved, singleton

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.attack,
    # Raised from inside schemathesis' own strategies, about its own code.
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

# Examples per operation and run; both apps together come to about two thousand cases.
EXAMPLES = {"valid": 16, "invalid": 12, "valid, own ids": 16}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
BILLING_PATH = "/api/v1/webhooks/billing"


@dataclass
class Tally:
    cases: int = 0
    # (operation, kind of failure, what it says) -> the whole report of its first case.
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def record(self, operation: str, group: FailureGroup) -> None:
        for failure in group.exceptions:
            self.failures.setdefault((operation, failure.title, failure.message), str(group))

    def report(self) -> str:
        return "\n\n".join(
            f"== {operation}: {title}\n{text}"
            for (operation, title, _), text in self.failures.items()
        )


@dataclass(frozen=True)
class User:
    """A user of the operation's own, with one of each thing the paths name."""

    headers: dict[str, str]
    ids: dict[str, str]
    position: int

    def reaches(self, case: schemathesis.Case) -> None:
        """A generated position the store has not reached would wait out the read-your-writes
        timeout (then 503, tested on its own): hold it to one the user's sign-up reached."""
        for parameters, name in ((case.query, "min_position"), (case.headers, "X-Min-Position")):
            value = parameters.get(name) if parameters else None
            if value is not None and str(value).isdigit() and int(value) > self.position:
                parameters[name] = type(value)(self.position)

    def owns(self, case: schemathesis.Case) -> None:
        """Ids in the body (a focus session's task, a billing event's user) name the user's."""
        case.body = _with_ids(case.body, self.ids)


def _with_ids(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            key: ids[key] if key in ids and isinstance(item, str) else _with_ids(item, ids)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_with_ids(item, ids) for item in value]
    return value


def new_user(service: Service, store: PerpetuaApplication) -> User:
    headers, user_id, position = service.sign_up()
    task_id = service.create_task(headers).json()["data"]["id"]
    made = {
        "subtask_id": service.write.post(
            f"/api/v1/tasks/{task_id}/subtasks", json={"title": "Outline"}, headers=headers
        ),
        "note_id": service.write.post(
            f"/api/v1/tasks/{task_id}/notes", json={"content": "Ask Sam"}, headers=headers
        ),
        "session_id": service.write.post(
            "/api/v1/focus/start", json={"task_id": task_id, "planned_minutes": 25}, headers=headers
        ),
    }
    ids = {name: response.json()["data"]["id"] for name, response in made.items()}
    inbox = singleton(store, Inbox, user_id)
    inbox.post(kind="test", key="fuzz", title="Hello", body="A notification to read")
    saved(store, inbox)
    return User(
        headers,
        {
            **ids,
            "task_id": task_id,
            "user_id": str(user_id),
            "notification_id": str(notification_id(user_id, "test", "fuzz")),
        },
        int(position),
    )


class SignedBody(requests.auth.AuthBase):
    """Signs the billing webhook's body as it goes out, the way the provider does: unsigned
    requests only ever meet the signature check (test_billing_over_http covers that 401)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        signature = hmac.new(BILLING_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        request.headers["X-Perpetua-Signature"] = f"sha256={signature}"
        return request


@dataclass(frozen=True)
class Target:
    """One operation, called as one user through one session."""

    operation: APIOperation[Any, Any, Any, Any]
    user: User
    base_url: str
    session: requests.Session
    tally: Tally

    def send(self, case: schemathesis.Case, *, own_ids: bool) -> None:
        self.tally.cases += 1
        self.user.reaches(case)
        if own_ids:
            self.user.owns(case)
        headers = {**self.user.headers, "Idempotency-Key": uuid.uuid4().hex}
        try:
            case.call_and_validate(
                base_url=self.base_url, session=self.session, headers=headers, checks=CHECKS
            )
        except FailureGroup as group:
            self.tally.record(self.operation.label, group)


def fuzz(service: Service, store: PerpetuaApplication, base_url: str, tally: Tally) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    with requests.Session() as plain, requests.Session() as signed:
        signed.auth = SignedBody()
        for result in schema.get_all_operations():
            fuzz_operation(result.ok(), service, store, base_url, plain, signed, tally)


def fuzz_operation(
    operation: APIOperation[Any, Any, Any, Any],
    service: Service,
    store: PerpetuaApplication,
    base_url: str,
    plain: requests.Session,
    signed: requests.Session,
    tally: Tally,
) -> None:
    user = new_user(service, store)
    session = signed if operation.path == BILLING_PATH else plain
    target = Target(operation, user, base_url, session, tally)
    own_path_ids = {
        p.name: user.ids[p.name] for p in operation.path_parameters if p.name in user.ids
    }
    runs = {
        "valid": operation.as_strategy(GenerationMode.POSITIVE),
        "invalid": operation.as_strategy(GenerationMode.NEGATIVE),
        "valid, own ids": operation.as_strategy(
            GenerationMode.POSITIVE, path_parameters=own_path_ids
        ),
    }
    for name, strategy in runs.items():
        own_ids = name.endswith("own ids")
        try:
            run_seeded(
                partial(target.send, own_ids=own_ids),
                strategy,
                f"{operation.label} {name}",
                EXAMPLES[name],
            )
        except Unsatisfiable:
            # Nothing to get wrong: the operation takes no parameters and no body.
            assert name == "invalid", operation.label


def run_seeded(
    send: Callable[[schemathesis.Case], None], strategy: Any, label: str, examples: int
) -> None:
    """`examples` cases from `strategy`, the same ones every run (the seed is the label's)."""

    @seed(zlib.crc32(label.encode()))
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # failures are collected, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        send(case)

    run()


def test_every_operation_of_both_apps_answers_as_documented(
    service: Service, store: PerpetuaApplication, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = Tally()
    started = time.monotonic()
    for client in (service.write, service.read):
        fuzz(service, store, str(client.base_url).rstrip("/"), tally)
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\nschemathesis: {tally.cases} cases, {len(tally.failures)} failures ({seconds:.0f} s)"
        )
    assert tally.cases >= 1000
    assert not tally.failures, tally.report()
    assert_projections_catch_up(service)


def assert_projections_catch_up(service: Service) -> None:
    """Every projection reaches the head of the store the fuzzing grew: no event it wrote
    stops one (and the tests after this one find the read side current)."""
    alice = service.sign_in()
    head = service.write.get("/health/ready").json()["event_store_head"]
    wait = {**alice, "X-Min-Position": str(head)}
    # Between them these wait for every projection.
    reads = ["/api/v1/sync", "/api/v1/activity", "/api/v1/focus/sessions", "/api/v1/recovery"]
    deadline = time.monotonic() + 60
    while True:
        # Each read waits up to the read-your-writes timeout, then says 503.
        reads = [path for path in reads if service.read.get(path, headers=wait).status_code != 200]
        if not reads:
            return
        assert time.monotonic() < deadline, f"still behind position {head}: {reads}"
