"""AI over HTTP, through the real OpenAI and Deepgram SDKs against loopback fakes: paid in
credits, never charged for a failure or twice for a retry, and hostile answers kept out."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from aggregates.credit_ledger import CreditLedger
from commands.application import PerpetuaApplication
from tests.e2e.conftest import ServerThread, Service
from tests.e2e.support import read, saved, singleton
from tests.fakes.deepgram_server import FakeDeepgram, make_wav
from tests.fakes.openai_server import FakeOpenAI, chat_content, subtasks_content

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def providers_answer_normally(
    openai_fake: FakeOpenAI, deepgram_fake: FakeDeepgram
) -> Iterator[None]:
    yield
    openai_fake.mode = "ok"
    openai_fake.next_content = None
    deepgram_fake.mode = "ok"


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}


def balance(service: Service, headers: dict[str, str], position: str) -> int:
    total: int = read(service, "/api/v1/credits/balance", headers, position)["data"]["total"]
    return total


def chat(service: Service, headers: dict[str, str], **body: Any) -> httpx.Response:
    body.setdefault("message", "What should I do first?")
    return service.write.post("/api/v1/ai/chat", json=body, headers={**headers, **key()})


def make_pro(service: Service, user_id: str) -> None:
    period_end = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    body = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "subscription.activated",
        "created_at": datetime.now(UTC).isoformat(),
        "data": {"user_id": user_id, "period_end": period_end},
    }
    assert service.billing(body).status_code == 200


def test_chat_costs_one_credit_and_a_replay_costs_nothing(
    service: Service, openai_fake: FakeOpenAI
) -> None:
    headers, _, signed_up = service.sign_up()
    before = balance(service, headers, signed_up)
    task = service.create_task(headers, title="Pay the rent", priority="high").json()["data"]
    same = key()
    body = {"message": "What should I do first?"}
    calls = openai_fake.calls

    first = service.write.post("/api/v1/ai/chat", json=body, headers={**headers, **same})

    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert data["response"]
    assert data["credits_remaining"] == before - 1
    assert openai_fake.calls == calls + 1
    # The model was shown the user's incomplete task, by id.
    assert task["id"] in json.dumps(openai_fake.requests[-1])
    assert balance(service, headers, first.headers["X-Event-Position"]) == before - 1

    again = service.write.post("/api/v1/ai/chat", json=body, headers={**headers, **same})

    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert openai_fake.calls == calls + 1
    assert balance(service, headers, first.headers["X-Event-Position"]) == before - 1


def test_a_conversation_remembers_its_turns_and_stops_at_ten(
    service: Service, openai_fake: FakeOpenAI
) -> None:
    headers = service.sign_in()  # 15 credits: enough for the ten turns
    first = chat(service, headers, message="turn 1", include_tasks=False)
    conversation_id = first.json()["data"]["conversation_id"]
    for turn in range(2, 11):
        answer = chat(service, headers, message=f"turn {turn}", conversation_id=conversation_id)
        assert answer.status_code == 200, answer.text
    sent = json.dumps(openai_fake.requests[-1])
    assert "turn 1" in sent
    assert "turn 9" in sent
    calls = openai_fake.calls
    position = answer.headers["X-Event-Position"]
    before = balance(service, headers, position)

    eleventh = chat(service, headers, message="turn 11", conversation_id=conversation_id)

    assert eleventh.status_code == 429
    assert eleventh.json()["error"]["code"] == "AI_CONVERSATION_LIMIT"
    assert openai_fake.calls == calls
    assert balance(service, headers, position) == before


@pytest.mark.parametrize(
    ("mode", "status"), [("error_500", 502), ("timeout", 504), ("invalid_json", 502)]
)
def test_a_failed_provider_call_is_refunded(
    service: Service, openai_fake: FakeOpenAI, mode: str, status: int
) -> None:
    headers, _, signed_up = service.sign_up()
    before = balance(service, headers, signed_up)
    openai_fake.mode = mode
    same = key()

    failed = service.write.post(
        "/api/v1/ai/chat", json={"message": "help"}, headers={**headers, **same}
    )

    assert failed.status_code == status, failed.text
    error = failed.json()["error"]
    assert error["code"] == "AI_PROVIDER_ERROR"
    assert error["details"]["refunded"] is True
    position = service.write.get("/health/ready").json()["event_store_head"]
    assert balance(service, headers, str(position)) == before
    history = read(service, "/api/v1/credits/history", headers, str(position))["data"]
    assert [entry["kind"] for entry in history[:2]] == ["refund", "spend"]
    # The same key answers the same failure: it does not run (or charge) again.
    openai_fake.mode = "ok"
    calls = openai_fake.calls
    again = service.write.post(
        "/api/v1/ai/chat", json={"message": "help"}, headers={**headers, **same}
    )
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (status, "true")
    assert openai_fake.calls == calls


def test_an_empty_balance_is_402_without_a_provider_call(
    service: Service, store: PerpetuaApplication, openai_fake: FakeOpenAI
) -> None:
    headers, user_id, _ = service.sign_up()
    empty_ledger(store, user_id)
    calls = openai_fake.calls

    refused = chat(service, headers)

    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "INSUFFICIENT_CREDITS"
    assert openai_fake.calls == calls


def empty_ledger(store: PerpetuaApplication, user_id: uuid.UUID) -> str:
    ledger = singleton(store, CreditLedger, user_id)
    ledger.bring_up_to(datetime.now(tz=UTC), daily_allowance=10)
    ledger.spend(ledger.total, spend_id=uuid.uuid4(), reason="test")
    return saved(store, ledger)


def test_twenty_ai_requests_a_minute_then_429(service: Service, store: PerpetuaApplication) -> None:
    headers, user_id, _ = service.sign_up()
    empty_ledger(store, user_id)  # each request is refused at once, and still counts
    for _ in range(service.settings.ai_requests_per_minute):
        assert chat(service, headers).status_code == 402

    limited = chat(service, headers)

    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) >= 1
    # Another user is not limited by this one.
    other = service.sign_in()
    assert chat(service, other).status_code == 200


def test_hostile_suggestions_never_reach_the_user(
    service: Service, openai_fake: FakeOpenAI
) -> None:
    headers = service.sign_in()
    mine = service.create_task(headers, title="Mine").json()["data"]["id"]
    theirs = service.create_task(service.sign_in(), title="Theirs").json()["data"]["id"]
    far = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    openai_fake.next_content = chat_content(
        "Here you go",
        [
            {"type": "complete_task", "task_id": theirs},
            {"type": "complete_task", "task_id": str(uuid.uuid4())},
            {"type": "delete_everything"},
            {"type": "reschedule_task", "task_id": mine, "due_date": far},
            {"type": "create_task", "title": ""},
            {"type": "create_task", "title": "x" * 500},
            {"type": "reschedule_task", "task_id": mine, "due_date": soon},
            {"type": "create_subtasks", "task_id": mine, "subtasks": [f"s{i}" for i in range(50)]},
        ],
    )

    answer = chat(service, headers)

    assert answer.status_code == 200, answer.text
    actions = answer.json()["data"]["suggested_actions"]
    assert [a["type"] for a in actions] == ["reschedule_task", "create_subtasks"]
    assert {a["task_id"] for a in actions} == {mine}
    assert len(actions[1]["subtasks"]) == 4  # a free task's subtask limit
    # Nothing was applied: suggestions are only shown.
    task = service.read.get(
        f"/api/v1/tasks/{mine}",
        headers={**headers, "X-Min-Position": answer.headers["X-Event-Position"]},
    ).json()["data"]
    assert task["subtasks"] == []
    assert task["due_date"] is None


def test_generated_subtasks_are_trimmed_to_the_free_slots_and_applied(
    service: Service, openai_fake: FakeOpenAI
) -> None:
    headers = service.sign_in()
    task_id = service.create_task(headers, title="Move house").json()["data"]["id"]
    service.write.post(f"/api/v1/tasks/{task_id}/subtasks", json={"title": "Pack"}, headers=headers)
    openai_fake.next_content = subtasks_content([f"Step {i}" for i in range(50)])

    answer = service.write.post(
        f"/api/v1/ai/tasks/{task_id}/generate-subtasks?apply=true",
        json={"count": 10},
        headers={**headers, **key()},
    )

    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["applied"] is True
    assert [s["title"] for s in data["subtasks"]] == ["Step 0", "Step 1", "Step 2"]
    assert all(s["id"] for s in data["subtasks"])
    task = service.read.get(
        f"/api/v1/tasks/{task_id}",
        headers={**headers, "X-Min-Position": answer.headers["X-Event-Position"]},
    ).json()["data"]
    assert [s["title"] for s in task["subtasks"]] == ["Pack", "Step 0", "Step 1", "Step 2"]


def test_proposed_subtasks_are_not_applied_without_asking(
    service: Service, openai_fake: FakeOpenAI
) -> None:
    headers = service.sign_in()
    task_id = service.create_task(headers, title="Plan a trip").json()["data"]["id"]

    answer = service.write.post(
        f"/api/v1/ai/tasks/{task_id}/generate-subtasks",
        json={"count": 2},
        headers={**headers, **key()},
    )

    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert (data["applied"], len(data["subtasks"]), data["task"]) == (False, 2, None)
    assert all(s["id"] is None for s in data["subtasks"])


def test_broken_subtask_answers_are_refunded(service: Service, openai_fake: FakeOpenAI) -> None:
    headers, _, signed_up = service.sign_up()
    before = balance(service, headers, signed_up)
    task_id = service.create_task(headers, title="Tidy up").json()["data"]["id"]
    openai_fake.next_content = subtasks_content(["", "   ", "\u0000bad"])

    answer = service.write.post(
        f"/api/v1/ai/tasks/{task_id}/generate-subtasks?apply=true",
        headers={**headers, **key()},
    )

    assert answer.status_code == 502
    position = service.write.get("/health/ready").json()["event_store_head"]
    assert balance(service, headers, str(position)) == before
    task = service.read.get(
        f"/api/v1/tasks/{task_id}", headers={**headers, "X-Min-Position": str(position)}
    ).json()["data"]
    assert task["subtasks"] == []


def test_transcription_is_for_pro_and_costs_a_credit_per_started_minute(
    service: Service, deepgram_fake: FakeDeepgram
) -> None:
    headers, user_id = service.sign_in_user()
    clip = {"file": ("note.wav", make_wav(90), "audio/wav")}
    calls = deepgram_fake.calls

    refused = service.write.post("/api/v1/ai/transcribe", files=clip, headers={**headers, **key()})

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "PRO_REQUIRED"
    assert deepgram_fake.calls == calls
    make_pro(service, user_id)
    position = service.write.get("/health/ready").json()["event_store_head"]
    before = balance(service, headers, str(position))

    answer = service.write.post("/api/v1/ai/transcribe", files=clip, headers={**headers, **key()})

    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["text"] == deepgram_fake.transcript
    assert data["duration_seconds"] == pytest.approx(90)
    assert data["credits_remaining"] == before - 2
    assert balance(service, headers, answer.headers["X-Event-Position"]) == before - 2


def test_a_voice_note_lands_on_the_task(service: Service, deepgram_fake: FakeDeepgram) -> None:
    headers, user_id = service.sign_in_user()
    make_pro(service, user_id)
    task_id = service.create_task(headers, title="Call the bank").json()["data"]["id"]

    answer = service.write.post(
        f"/api/v1/tasks/{task_id}/notes/voice",
        files={"file": ("memo.wav", make_wav(20), "audio/wav")},
        headers={**headers, **key()},
    )

    assert answer.status_code == 201, answer.text
    note = answer.json()["data"]
    assert (note["source"], note["content"]) == ("voice", deepgram_fake.transcript)
    task = service.read.get(
        f"/api/v1/tasks/{task_id}",
        headers={**headers, "X-Min-Position": answer.headers["X-Event-Position"]},
    ).json()["data"]
    assert [(n["id"], n["source"]) for n in task["notes"]] == [(note["id"], "voice")]


@pytest.mark.parametrize(
    ("audio", "status", "code"),
    [
        (b"not audio at all", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (None, 422, "AUDIO_TOO_LONG"),
    ],
)
def test_bad_recordings_are_refused_before_anything_is_charged(
    service: Service, deepgram_fake: FakeDeepgram, audio: bytes | None, status: int, code: str
) -> None:
    headers, user_id = service.sign_in_user()
    make_pro(service, user_id)
    position = str(service.write.get("/health/ready").json()["event_store_head"])
    before = balance(service, headers, position)
    calls = deepgram_fake.calls
    body = audio if audio is not None else make_wav(301)

    refused = service.write.post(
        "/api/v1/ai/transcribe",
        files={"file": ("x.wav", body, "audio/wav")},
        headers={**headers, **key()},
    )

    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["code"] == code
    assert deepgram_fake.calls == calls
    head = str(service.write.get("/health/ready").json()["event_store_head"])
    assert balance(service, headers, head) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/ai/chat", {"message": ""}),
        ("/api/v1/ai/chat", {"message": "x" * 2001}),
        ("/api/v1/ai/chat", {"message": "hi", "conversation_id": "nope"}),
        ("/api/v1/ai/chat", {"message": "hi", "unknown": 1}),
        ("/api/v1/ai/chat", {"message": "hi\u0000"}),
        ("/api/v1/ai/tasks/{task}/generate-subtasks", {"count": 0}),
        ("/api/v1/ai/tasks/{task}/generate-subtasks", {"count": 11}),
    ],
)
def test_bad_ai_bodies_are_422_and_cost_nothing(
    service: Service, openai_fake: FakeOpenAI, path: str, body: dict[str, Any]
) -> None:
    headers, _, signed_up = service.sign_up()
    task_id = service.create_task(headers).json()["data"]["id"]
    calls = openai_fake.calls

    refused = service.write.post(path.format(task=task_id), json=body, headers={**headers, **key()})

    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "VALIDATION_ERROR"
    assert openai_fake.calls == calls
    assert balance(service, headers, signed_up) == balance(
        service, headers, str(service.write.get("/health/ready").json()["event_store_head"])
    )


def test_ai_requests_need_an_idempotency_key(service: Service) -> None:
    headers = service.sign_in()

    refused = service.write.post("/api/v1/ai/chat", json={"message": "hi"}, headers=headers)

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"


def test_someone_elses_task_or_conversation_is_not_found(service: Service) -> None:
    owner = service.sign_in()
    task_id = service.create_task(owner).json()["data"]["id"]
    conversation_id = chat(service, owner).json()["data"]["conversation_id"]
    stranger = service.sign_in()

    task = service.write.post(
        f"/api/v1/ai/tasks/{task_id}/generate-subtasks", headers={**stranger, **key()}
    )
    conversation = chat(service, stranger, conversation_id=conversation_id)

    assert (task.status_code, task.json()["error"]["code"]) == (404, "TASK_NOT_FOUND")
    assert (conversation.status_code, conversation.json()["error"]["code"]) == (
        404,
        "CONVERSATION_NOT_FOUND",
    )


def test_every_ai_request_is_in_the_activity_log(service: Service, openai_fake: FakeOpenAI) -> None:
    headers = service.sign_in()
    ok = chat(service, headers)
    openai_fake.mode = "error_500"
    chat(service, headers)
    position = service.write.get("/health/ready").json()["event_store_head"]

    log = read(service, "/api/v1/activity", headers, str(position), entity_type="ai_usage")

    summaries = [row["summary"] for row in log["data"] if row["action"] == "request_recorded"]
    assert len(summaries) == 2, summaries
    assert "chat provider_error" in summaries[0]
    assert "0 credits" in summaries[0]
    assert "chat ok" in summaries[1]
    assert "1 credit," in summaries[1]
    assert ok.status_code == 200


def test_without_a_provider_key_ai_is_503_and_free(service: Service) -> None:
    settings = service.settings.model_copy(
        update={"openai_api_key": None, "deepgram_api_key": None}
    )
    from perpetua.wiring import build_write_api

    headers, _, signed_up = service.sign_up()
    with ServerThread(build_write_api(settings)) as url, httpx.Client(base_url=url) as write:
        refused = write.post(
            "/api/v1/ai/chat", json={"message": "hi"}, headers={**headers, **key()}
        )
        audio = write.post(
            "/api/v1/ai/transcribe",
            files={"file": ("x.wav", make_wav(5), "audio/wav")},
            headers={**headers, **key()},
        )

    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "AI_NOT_CONFIGURED")
    assert (audio.status_code, audio.json()["error"]["code"]) == (503, "AI_NOT_CONFIGURED")
    head = str(service.write.get("/health/ready").json()["event_store_head"])
    assert balance(service, headers, head) == balance(service, headers, signed_up)


def test_a_runaway_answer_is_cut_before_it_is_kept(
    service: Service, openai_fake: FakeOpenAI
) -> None:
    headers = service.sign_in()
    openai_fake.next_content = chat_content("word " * 10_000, [])

    answer = chat(service, headers)

    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"]["response"]) == 8000
