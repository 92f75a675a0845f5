"""The provider adapters, through the real SDKs, against loopback servers speaking the protocols."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.ai_providers import (
    CHAT_SCHEMA_NAME,
    ChatProvider,
    ChatTurn,
    ProviderError,
    ProviderTimeoutError,
    TaskContext,
    Transcriber,
    chat_provider,
    transcriber,
)
from infra.audio import wav_duration_seconds
from infra.settings import Settings
from tests.fakes.deepgram_server import API_KEY, DEFAULT_TRANSCRIPT, FakeDeepgram, make_wav
from tests.fakes.openai_server import FakeOpenAI, chat_content, subtasks_content

TIMEOUT = 0.5


def _settings(**overrides: Any) -> Settings:
    """Settings from arguments only: neither the environment nor a .env file may add keys."""
    values: dict[str, Any] = {
        "openai_api_key": None,
        "openai_base_url": None,
        "deepgram_api_key": None,
        "ai_timeout_seconds": TIMEOUT,
        "ai_max_retries": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_deepgram() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as fake:
        yield fake


def _chat(fake: FakeOpenAI, *, retries: int = 0) -> ChatProvider:
    provider = chat_provider(
        _settings(openai_api_key="k", openai_base_url=fake.base_url, ai_max_retries=retries)
    )
    assert provider is not None
    return provider


def _transcriber(fake: FakeDeepgram, *, retries: int = 0) -> Transcriber:
    provider = transcriber(
        _settings(deepgram_api_key=API_KEY, deepgram_base_url=fake.base_url, ai_max_retries=retries)
    )
    assert provider is not None
    return provider


def _ask(provider: ChatProvider, message: str = "what is next?") -> Any:
    return provider.chat(history=[], message=message, tasks=[])


# --- chat ----------------------------------------------------------------------------------


def test_chat_returns_the_validated_reply_and_the_usage(fake_openai: FakeOpenAI) -> None:
    action = {"type": "complete_task", "task_id": "t-1", "title": None, "due_date": None}
    fake_openai.next_content = chat_content("Done soon.", [{**action, "subtasks": None}])

    answer = _ask(_chat(fake_openai))

    assert answer.reply.response == "Done soon."
    assert [(a.type, a.task_id) for a in answer.reply.suggested_actions] == [
        ("complete_task", "t-1")
    ]
    assert answer.usage.tokens_in > 0
    assert answer.usage.tokens_out > 0


def test_chat_sends_the_history_the_message_and_the_tasks(fake_openai: FakeOpenAI) -> None:
    task_id = uuid.uuid4()
    due = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
    history = [ChatTurn("user", "hello"), ChatTurn("assistant", "hi, how can I help?")]
    tasks = [TaskContext(task_id, "File taxes", "high", due)]

    _chat(fake_openai).chat(history=history, message="what is due?", tasks=tasks)

    (request,) = fake_openai.requests
    messages = request["messages"]
    assert messages[0]["role"] == "system"
    assert [(m["role"], m["content"]) for m in messages[1:3]] == [
        ("user", "hello"),
        ("assistant", "hi, how can I help?"),
    ]
    sent = json.loads(messages[-1]["content"])
    assert sent["message"] == "what is due?"
    assert sent["tasks"] == [
        {"id": str(task_id), "title": "File taxes", "priority": "high", "due_date": due.isoformat()}
    ]
    schema = request["response_format"]["json_schema"]
    assert schema["name"] == CHAT_SCHEMA_NAME
    assert schema["strict"] is True
    assert schema["schema"]["required"] == ["response", "suggested_actions"]


def test_a_failing_provider_is_retried_then_reported(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "error_500"

    with pytest.raises(ProviderError) as raised:
        _ask(_chat(fake_openai, retries=1))

    assert not isinstance(raised.value, ProviderTimeoutError)
    assert fake_openai.calls == 2


def test_a_slow_provider_times_out_within_bounds(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "timeout"
    started = time.monotonic()

    with pytest.raises(ProviderTimeoutError):
        _ask(_chat(fake_openai))

    assert time.monotonic() - started < TIMEOUT + 1.5
    assert fake_openai.calls == 1


def test_content_that_is_not_json_is_a_provider_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "invalid_json"

    with pytest.raises(ProviderError, match="schema"):
        _ask(_chat(fake_openai))


@pytest.mark.parametrize(
    "content",
    [
        json.dumps({"suggested_actions": []}),  # no response
        json.dumps({"response": 42, "suggested_actions": []}),
        json.dumps({"response": "ok", "suggested_actions": [{"task_id": "t-1"}]}),  # no type
        json.dumps({"response": "ok", "suggested_actions": "complete everything"}),
        json.dumps(["ok"]),
        "",
    ],
)
def test_json_of_the_wrong_shape_is_a_provider_error(fake_openai: FakeOpenAI, content: str) -> None:
    fake_openai.next_content = content

    with pytest.raises(ProviderError):
        _ask(_chat(fake_openai))


def test_an_answer_that_is_no_completion_is_a_provider_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.mode = "not_a_completion"

    with pytest.raises(ProviderError):
        _ask(_chat(fake_openai))


def test_unknown_action_types_are_passed_on_for_the_caller_to_drop(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.next_content = chat_content("ok", [{"type": "delete_everything"}])

    (action,) = _ask(_chat(fake_openai)).reply.suggested_actions

    assert action.type == "delete_everything"
    assert action.task_id is None


def test_subtask_generation_returns_as_many_titles_as_asked(fake_openai: FakeOpenAI) -> None:
    answer = _chat(fake_openai).generate_subtasks(
        title="Move house", description=None, existing=["Book a van"], count=4
    )

    assert answer.titles == ["Step 1", "Step 2", "Step 3", "Step 4"]
    assert answer.usage.tokens_out > 0
    sent = json.loads(fake_openai.requests[0]["messages"][-1]["content"])
    assert sent["existing_subtasks"] == ["Book a van"]


def test_subtasks_of_the_wrong_shape_are_a_provider_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.next_content = json.dumps({"subtasks": [1, 2]})
    provider = _chat(fake_openai)

    with pytest.raises(ProviderError):
        provider.generate_subtasks(title="Move", description="soon", existing=[], count=2)

    fake_openai.next_content = subtasks_content(["  Pack  ", ""])  # the caller trims and checks
    answer = provider.generate_subtasks(title="Move", description="soon", existing=[], count=2)
    assert answer.titles == ["  Pack  ", ""]


def test_an_unreachable_provider_is_a_provider_error() -> None:
    with FakeOpenAI() as fake:
        base_url = fake.base_url
    provider = chat_provider(_settings(openai_api_key="k", openai_base_url=base_url))
    assert provider is not None

    with pytest.raises(ProviderError):
        _ask(provider)


# --- transcription -------------------------------------------------------------------------


def test_transcription_returns_the_text_and_the_clip_length(fake_deepgram: FakeDeepgram) -> None:
    transcript = _transcriber(fake_deepgram).transcribe(make_wav(2.5), content_type="audio/wav")

    assert transcript.text == DEFAULT_TRANSCRIPT
    assert transcript.duration_seconds == pytest.approx(2.5)
    (request,) = fake_deepgram.requests
    assert request.content_type == "audio/wav"
    assert request.query["model"] == ["nova-3"]
    assert request.query["smart_format"] == ["true"]


def test_a_failing_transcriber_is_retried_then_reported(fake_deepgram: FakeDeepgram) -> None:
    fake_deepgram.mode = "error_500"

    with pytest.raises(ProviderError) as raised:
        _transcriber(fake_deepgram, retries=1).transcribe(make_wav(1), content_type="audio/wav")

    assert not isinstance(raised.value, ProviderTimeoutError)
    assert fake_deepgram.calls == 2


def test_a_slow_transcriber_times_out_within_bounds(fake_deepgram: FakeDeepgram) -> None:
    fake_deepgram.mode = "timeout"
    started = time.monotonic()

    with pytest.raises(ProviderTimeoutError):
        _transcriber(fake_deepgram).transcribe(make_wav(1), content_type="audio/wav")

    assert time.monotonic() - started < TIMEOUT + 1.5


def test_a_wrong_key_is_a_provider_error(fake_deepgram: FakeDeepgram) -> None:
    fake_deepgram.api_key = "another-key"

    with pytest.raises(ProviderError, match="401"):
        _transcriber(fake_deepgram).transcribe(make_wav(1), content_type="audio/wav")


def _listen_body(metadata: object, alternatives: object) -> dict[str, object]:
    return {"metadata": metadata, "results": {"channels": [{"alternatives": alternatives}]}}


@pytest.mark.parametrize(
    "body",
    [
        {"request_id": "accepted-for-a-callback"},
        {"metadata": {"duration": 1.0}, "results": {"channels": []}},
        _listen_body({"duration": 1.0}, []),
        _listen_body({"duration": 1.0}, [{"transcript": None}]),
        _listen_body({}, [{"transcript": "hi"}]),
        _listen_body({"duration": "long"}, [{"transcript": "hi"}]),
        _listen_body({"duration": -1}, [{"transcript": "hi"}]),
        [],
    ],
)
def test_an_answer_of_the_wrong_shape_is_a_provider_error(
    fake_deepgram: FakeDeepgram, body: object
) -> None:
    fake_deepgram.next_body = body

    with pytest.raises(ProviderError):
        _transcriber(fake_deepgram).transcribe(make_wav(1), content_type="audio/wav")


# --- configuration and audio ---------------------------------------------------------------


def test_without_keys_there_are_no_providers() -> None:
    settings = _settings(openai_base_url="http://127.0.0.1:9/v1")

    assert chat_provider(settings) is None
    assert transcriber(settings) is None
    assert chat_provider(_settings(openai_api_key="")) is None


def test_the_length_of_a_wav_clip() -> None:
    assert wav_duration_seconds(make_wav(90)) == 90
    assert wav_duration_seconds(make_wav(0.5, rate=16000)) == 0.5


@pytest.mark.parametrize(
    "audio",
    [b"", b"not audio", make_wav(1)[:30], b"RIFF\x24\x00\x00\x00WAVEjunk"],
)
def test_anything_but_a_readable_wav_is_refused(audio: bytes) -> None:
    with pytest.raises(ValueError, match="WAV"):
        wav_duration_seconds(audio)


def test_a_wav_declaring_a_zero_frame_rate_is_refused() -> None:
    clip = bytearray(make_wav(1))
    clip[24:28] = (0).to_bytes(4, "little")  # the fmt chunk's sample rate

    with pytest.raises(ValueError, match="frame rate"):
        wav_duration_seconds(bytes(clip))


def test_a_truncated_wav_counts_the_frames_it_holds() -> None:
    clip = make_wav(2)

    assert wav_duration_seconds(clip[: len(clip) - 8000]) == pytest.approx(1.5)
