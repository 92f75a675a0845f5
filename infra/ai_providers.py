"""Adapters to the AI providers: OpenAI for chat and subtasks, Deepgram for speech to text.

Both go through their vendors' SDKs at configurable base URLs, so any OpenAI-compatible server
can stand in for OpenAI. Whatever goes wrong at a provider leaves this module as one of two
errors: ProviderTimeoutError when it did not answer in time (the API answers 504) and
ProviderError for everything else (502). That includes answers that do not fit the schema we
asked for: a model's output is untrusted input, so it is validated here and the caller
still checks every suggestion against the user's own data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from uuid import UUID

import httpx
from deepgram import DeepgramClient, DeepgramClientEnvironment, ListenV1Response
from deepgram.core.api_error import ApiError
from deepgram.core.parse_error import ParsingError
from pydantic import BaseModel, ValidationError

from infra.settings import Settings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

# The SDK would read OPENAI_BASE_URL from the environment itself; Settings is our one reader.
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Names of the structured outputs we ask for (a fake server tells the two requests apart by them).
CHAT_SCHEMA_NAME = "chat_reply"
SUBTASKS_SCHEMA_NAME = "subtask_list"

_CHAT_INSTRUCTIONS = (
    "You are the assistant of a personal task manager. The user's message comes as JSON with "
    "the current time and their incomplete tasks. Answer briefly in `response`. Suggest actions "
    "only when they help: complete_task (task_id), reschedule_task (task_id, due_date), "
    "create_task (title, optional due_date), create_subtasks (task_id, subtasks). Copy task ids "
    "exactly from the given tasks; never invent one. Dates are ISO 8601. Unused fields are null. "
    "Answer in the given JSON schema."
)
_SUBTASK_INSTRUCTIONS = (
    "You split a task of a personal task manager into concrete next steps. The task comes as "
    "JSON. Propose exactly `count` short subtask titles (under 100 characters each), in the "
    "order they should be done, repeating none of the existing subtasks. Answer in the given "
    "JSON schema."
)


class ProviderError(Exception):
    """The provider failed or answered something unusable (-> 502)."""


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time (-> 504)."""


@dataclass(frozen=True)
class Usage:
    tokens_in: int
    tokens_out: int


@dataclass(frozen=True)
class ChatTurn:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class TaskContext:
    """One of the user's incomplete tasks, as the model sees it."""

    id: UUID
    title: str
    priority: str
    due_date: datetime | None


# What the model may suggest, NOT yet validated against the user's data. (Comments rather than
# docstrings on these two models: pydantic would send a docstring to the model in the schema.)
class ProposedAction(BaseModel):
    # complete_task | create_task | create_subtasks | reschedule_task; the caller drops others.
    type: str
    task_id: str | None = None
    title: str | None = None
    due_date: str | None = None
    subtasks: list[str] | None = None


# The structured output the model must produce.
class ChatReply(BaseModel):
    response: str
    suggested_actions: list[ProposedAction] = []


class _SubtaskList(BaseModel):
    subtasks: list[str]


@dataclass(frozen=True)
class ChatAnswer:
    reply: ChatReply
    usage: Usage


@dataclass(frozen=True)
class SubtaskAnswer:
    titles: list[str]  # raw titles as proposed (the caller trims and validates them)
    usage: Usage


@dataclass(frozen=True)
class Transcript:
    text: str
    duration_seconds: float


class ChatProvider(Protocol):
    def chat(
        self, *, history: Sequence[ChatTurn], message: str, tasks: Sequence[TaskContext]
    ) -> ChatAnswer: ...

    def generate_subtasks(
        self, *, title: str, description: str | None, existing: Sequence[str], count: int
    ) -> SubtaskAnswer: ...


class Transcriber(Protocol):
    def transcribe(self, audio: bytes, *, content_type: str) -> Transcript: ...


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form OpenAI's strict structured outputs accept.

    Strict mode wants every property listed as required (optional ones are already nullable),
    no additional properties and no defaults; titles are noise to the model.
    """
    schema: dict[str, Any] = _strictify(model.model_json_schema())
    return schema


def _strictify(node: Any) -> Any:
    if isinstance(node, list):
        return [_strictify(item) for item in node]
    if not isinstance(node, dict):
        return node
    strict: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "default"):
            continue
        if key in ("properties", "$defs"):  # maps of names (a field may be called "title")
            strict[key] = {name: _strictify(sub) for name, sub in value.items()}
        else:
            strict[key] = _strictify(value)
    if strict.get("type") == "object" and "properties" in strict:
        strict["required"] = list(strict["properties"])
        strict["additionalProperties"] = False
    return strict


_CHAT_SCHEMA = strict_json_schema(ChatReply)
_SUBTASKS_SCHEMA = strict_json_schema(_SubtaskList)

_Model = TypeVar("_Model", bound=BaseModel)


def _compact_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _task_json(task: TaskContext) -> dict[str, str | None]:
    due = task.due_date.isoformat() if task.due_date is not None else None
    return {"id": str(task.id), "title": task.title, "priority": task.priority, "due_date": due}


def _turn_message(turn: ChatTurn) -> ChatCompletionMessageParam:
    if turn.role == "assistant":
        return {"role": "assistant", "content": turn.content}
    return {"role": "user", "content": turn.content}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _count(value: object) -> int:
    """A token count from the provider's usage, 0 when absent or nonsense."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _usage(completion: ChatCompletion) -> Usage:
    usage = getattr(completion, "usage", None)
    return Usage(
        tokens_in=_count(getattr(usage, "prompt_tokens", 0)),
        tokens_out=_count(getattr(usage, "completion_tokens", 0)),
    )


def _content(completion: ChatCompletion) -> str:
    """The first choice's text. The SDK does not validate answers, so the shape is checked."""
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise ProviderError("the chat provider answered without choices")
    message = getattr(choices[0], "message", None)
    if getattr(message, "refusal", None):
        raise ProviderError("the chat provider refused to answer")
    content = getattr(message, "content", None)
    if not isinstance(content, str) or not content:
        raise ProviderError("the chat provider answered without content")
    return content


def _parse(model: type[_Model], content: str) -> _Model:
    try:
        return model.model_validate_json(content)
    except ValidationError as error:
        msg = f"the chat provider's answer does not fit the {model.__name__} schema: {error}"
        raise ProviderError(msg) from error


class OpenAIChat:
    """ChatProvider over OpenAI's chat completions with strict JSON-schema structured outputs."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        timeout_seconds: float,
        max_retries: int,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        # Imported here: the SDK's models are ~20 MB and ~0.4 s that every process importing
        # the commands (the projector, a rebuild) would otherwise pay without a key.
        import openai

        # The SDK retries connection errors, timeouts, 408/409/429 and 5xx by itself.
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url or OPENAI_DEFAULT_BASE_URL,
            timeout=timeout_seconds,
            max_retries=max_retries,
        )
        self._model = model
        self._now = now

    def chat(
        self, *, history: Sequence[ChatTurn], message: str, tasks: Sequence[TaskContext]
    ) -> ChatAnswer:
        # The user's words travel inside JSON next to the context, so they cannot pose as it.
        request = {
            "now": self._now().isoformat(timespec="minutes"),
            "tasks": [_task_json(task) for task in tasks],
            "message": message,
        }
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": _CHAT_INSTRUCTIONS},
            *(_turn_message(turn) for turn in history),
            {"role": "user", "content": _compact_json(request)},
        ]
        completion = self._complete(messages, CHAT_SCHEMA_NAME, _CHAT_SCHEMA)
        return ChatAnswer(_parse(ChatReply, _content(completion)), _usage(completion))

    def generate_subtasks(
        self, *, title: str, description: str | None, existing: Sequence[str], count: int
    ) -> SubtaskAnswer:
        request = {
            "title": title,
            "description": description,
            "existing_subtasks": list(existing),
            "count": count,
        }
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": _SUBTASK_INSTRUCTIONS},
            {"role": "user", "content": _compact_json(request)},
        ]
        completion = self._complete(messages, SUBTASKS_SCHEMA_NAME, _SUBTASKS_SCHEMA)
        titles = _parse(_SubtaskList, _content(completion)).subtasks
        return SubtaskAnswer(titles, _usage(completion))

    def _complete(
        self, messages: list[ChatCompletionMessageParam], name: str, schema: dict[str, Any]
    ) -> ChatCompletion:
        import openai  # loaded by __init__ already

        try:
            return self._client.chat.completions.create(
                model=self._model,
                messages=messages,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": True},
                },
            )
        except openai.APITimeoutError as error:
            raise ProviderTimeoutError("the chat provider did not answer in time") from error
        except openai.APIStatusError as error:
            msg = f"the chat provider answered HTTP {error.status_code}"
            raise ProviderError(msg) from error
        except openai.OpenAIError as error:  # connection errors, unreadable answers
            raise ProviderError(f"the chat provider failed: {error}") from error


def _deepgram_environment(base_url: str) -> DeepgramClientEnvironment:
    """REST (and, derived, streaming) at our base URL; the agent API stays Deepgram's own."""
    base = base_url.rstrip("/")
    streaming = "ws" + base.removeprefix("http") if base.startswith("http") else base
    production = DeepgramClientEnvironment.PRODUCTION
    return DeepgramClientEnvironment(
        base=base, production=streaming, agent=production.agent, agent_rest=production.agent_rest
    )


def _first(items: object) -> object:
    return items[0] if isinstance(items, list) and items else None


def _transcript(result: object) -> Transcript:
    """Text and length from a prerecorded answer. The SDK builds its models without
    validating them (a field may be missing or of any type), so each step is checked here."""
    if not isinstance(result, ListenV1Response):
        raise ProviderError("the transcriber answered without a transcript")
    channel = _first(getattr(getattr(result, "results", None), "channels", None))
    alternative = _first(getattr(channel, "alternatives", None))
    text = getattr(alternative, "transcript", None)
    duration = getattr(getattr(result, "metadata", None), "duration", None)
    if not isinstance(text, str):
        raise ProviderError("the transcriber's answer has no results.channels[0].alternatives[0]")
    if not isinstance(duration, int | float) or isinstance(duration, bool):
        raise ProviderError("the transcriber's answer has no metadata.duration")
    if not math.isfinite(duration) or duration < 0:
        raise ProviderError(f"the transcriber's answer has a duration of {duration}")
    return Transcript(text=text, duration_seconds=float(duration))


class DeepgramTranscriber:
    """Transcriber over Deepgram's prerecorded /v1/listen."""

    def __init__(
        self, *, api_key: str, base_url: str, model: str, timeout_seconds: float, max_retries: int
    ) -> None:
        # The SDK retries 408/409/429, 5xx and failed connections (not timeouts) by itself.
        self._client = DeepgramClient(
            api_key=api_key,
            environment=_deepgram_environment(base_url),
            timeout=timeout_seconds,
            max_retries=max_retries,
        )
        self._model = model

    def transcribe(self, audio: bytes, *, content_type: str) -> Transcript:
        try:
            result = self._client.listen.v1.media.transcribe_file(
                request=audio,
                model=self._model,
                smart_format=True,
                # Replaces the SDK's application/octet-stream (its header keys are lower case).
                request_options={"additional_headers": {"content-type": content_type}},
            )
        except httpx.TimeoutException as error:
            raise ProviderTimeoutError("the transcriber did not answer in time") from error
        except ApiError as error:  # any non-2xx, or a 2xx that is not JSON
            raise ProviderError(f"the transcriber answered HTTP {error.status_code}") from error
        except (ParsingError, httpx.HTTPError, ValueError) as error:
            raise ProviderError(f"the transcriber failed: {type(error).__name__}") from error
        return _transcript(result)


def chat_provider(settings: Settings) -> ChatProvider | None:
    """None when no OPENAI_API_KEY"""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if not key:
        return None
    return OpenAIChat(
        api_key=key,
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        timeout_seconds=settings.ai_timeout_seconds,
        max_retries=settings.ai_max_retries,
    )


def transcriber(settings: Settings) -> Transcriber | None:
    """None when no DEEPGRAM_API_KEY"""
    key = settings.deepgram_api_key.get_secret_value() if settings.deepgram_api_key else ""
    if not key:
        return None
    return DeepgramTranscriber(
        api_key=key,
        base_url=settings.deepgram_base_url,
        model=settings.deepgram_model,
        timeout_seconds=settings.ai_timeout_seconds,
        max_retries=settings.ai_max_retries,
    )
