"""A loopback server that speaks OpenAI's chat completions protocol.

`POST /v1/chat/completions` answers a real `chat.completion` object, so the `openai` SDK at
`base_url` meets the same shapes it meets in production. By default the assistant's content
is a valid answer to whichever structured output was asked for (a chat reply, or as many
subtask titles as the request's `count`); `mode` switches to failures and `next_content`
scripts the content, for hostile answers.
"""

from __future__ import annotations

import json
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from infra.ai_providers import SUBTASKS_SCHEMA_NAME
from tests.fakes.loopback import LoopbackPostServer

Mode = Literal["ok", "error_500", "timeout", "invalid_json", "not_a_completion"]

COMPLETIONS_PATH = "/v1/chat/completions"
DEFAULT_REPLY = "Noted."
DEFAULT_SUBTASK_COUNT = 3


def chat_content(response: str, actions: list[dict[str, Any]] | None = None) -> str:
    """The JSON of a ChatReply (actions as given: they may be as wrong as a test wants)."""
    return json.dumps({"response": response, "suggested_actions": actions or []})


def subtasks_content(titles: list[str]) -> str:
    return json.dumps({"subtasks": titles})


def _schema_name(body: dict[str, Any]) -> str | None:
    response_format = body.get("response_format") or {}
    name = (response_format.get("json_schema") or {}).get("name")
    return name if isinstance(name, str) else None


def _requested_count(body: dict[str, Any]) -> int:
    """The `count` in the last user message (JSON, as infra.ai_providers sends it)."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    try:
        count = json.loads(users[-1]["content"]).get("count")
    except (IndexError, KeyError, TypeError, ValueError, AttributeError):
        return DEFAULT_SUBTASK_COUNT
    return count if isinstance(count, int) and count >= 0 else DEFAULT_SUBTASK_COUNT


def default_content(body: dict[str, Any]) -> str:
    if _schema_name(body) == SUBTASKS_SCHEMA_NAME:
        count = _requested_count(body)
        return subtasks_content([f"Step {number}" for number in range(1, count + 1)])
    return chat_content(DEFAULT_REPLY)


def completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    """A chat.completion object; token counts are rough (4 characters a token) but nonzero."""
    prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    prompt_tokens, completion_tokens = prompt_chars // 4 + 1, len(content) // 4 + 1
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o-mini"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeOpenAI(LoopbackPostServer[dict[str, Any]]):
    path = COMPLETIONS_PATH
    url_suffix = "/v1"

    def __init__(self) -> None:
        super().__init__()
        self.mode: Mode = "ok"
        self.next_content: str | None = None

    def _received(self, handler: BaseHTTPRequestHandler, query: str, raw: bytes) -> None:
        body = json.loads(raw or b"{}")
        self._record(body)
        self._answer(handler, body)

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if self.mode == "timeout" and self._sleep_for_timeout():
            return  # shutting down: nobody is waiting for this answer any more
        if self.mode == "error_500":
            error = {"error": {"message": "The server had an error", "type": "server_error"}}
            _send_json(handler, 500, error)
            return
        if self.mode == "not_a_completion":
            _send_json(handler, 200, {"unexpected": True})
            return
        content = self.next_content if self.next_content is not None else default_content(body)
        if self.mode == "invalid_json":
            content = "Sure! Here is your answer: {response: nope"
        _send_json(handler, 200, completion(body, content))


def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: object) -> None:
    data = json.dumps(payload).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        # Retried failures come back at once, so a test of retries does not wait for backoff.
        handler.send_header("retry-after-ms", "10")
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout) before the answer
