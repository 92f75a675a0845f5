"""A loopback server that speaks Deepgram's prerecorded protocol, and WAV clips to send it.

`POST /v1/listen` (options in the query, the audio as the body, `Authorization: Token <key>`)
answers Deepgram's JSON: `metadata.duration` is the uploaded WAV's real length and
`results.channels[0].alternatives[0].transcript` is `transcript`; `mode` switches to failures
and `next_body` scripts the whole answer, for hostile shapes.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs

from infra.audio import wav_duration_seconds
from tests.fakes.loopback import LoopbackPostServer

Mode = Literal["ok", "error_500", "timeout"]

LISTEN_PATH = "/v1/listen"
API_KEY = "dg-test-key"
DEFAULT_TRANSCRIPT = "buy milk and call the bank"


def make_wav(seconds: float, rate: int = 8000) -> bytes:
    """A clip of silence, 16-bit mono."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x00" * round(seconds * rate))
    return buffer.getvalue()


@dataclass(frozen=True)
class ListenRequest:
    query: dict[str, list[str]]
    content_type: str | None
    size: int


def listen_response(audio: bytes, transcript: str, duration: float) -> dict[str, Any]:
    """Deepgram's prerecorded answer for one channel (fields trimmed to the usual ones)."""
    model_id = str(uuid.uuid4())
    words = transcript.split()
    step = duration / len(words) if words else 0.0
    return {
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": str(uuid.uuid4()),
            "sha256": hashlib.sha256(audio).hexdigest(),
            "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "duration": duration,
            "channels": 1,
            "models": [model_id],
            "model_info": {model_id: {"name": "general-nova-3", "version": "1", "arch": "nova-3"}},
        },
        "results": {
            "channels": [
                {
                    "alternatives": [
                        {
                            "transcript": transcript,
                            "confidence": 0.98,
                            "words": [
                                {
                                    "word": word,
                                    "start": index * step,
                                    "end": (index + 1) * step,
                                    "confidence": 0.98,
                                    "punctuated_word": word,
                                }
                                for index, word in enumerate(words)
                            ],
                        }
                    ]
                }
            ]
        },
    }


class FakeDeepgram(LoopbackPostServer[ListenRequest]):
    path = LISTEN_PATH

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.mode: Mode = "ok"
        self.transcript = DEFAULT_TRANSCRIPT
        self.next_body: object | None = None  # answered as JSON instead of the real shape

    def _received(self, handler: BaseHTTPRequestHandler, query: str, audio: bytes) -> None:
        content_type = handler.headers.get("Content-Type")
        self._record(ListenRequest(parse_qs(query), content_type, len(audio)))
        self._answer(handler, audio)

    def _answer(self, handler: BaseHTTPRequestHandler, audio: bytes) -> None:
        if handler.headers.get("Authorization") != f"Token {self.api_key}":
            _send_json(handler, 401, _error("INVALID_AUTH", "Invalid credentials."))
            return
        if self.mode == "timeout" and self._sleep_for_timeout():
            return  # shutting down: nobody is waiting for this answer any more
        if self.mode == "error_500":
            _send_json(handler, 500, _error("INTERNAL_SERVER_ERROR", "Something went wrong."))
            return
        if self.next_body is not None:
            _send_json(handler, 200, self.next_body)
            return
        try:
            duration = wav_duration_seconds(audio)
        except ValueError:
            _send_json(handler, 400, _error("Bad Request", "corrupt or unsupported data"))
            return
        _send_json(handler, 200, listen_response(audio, self.transcript, duration))


def _error(code: str, message: str) -> dict[str, str]:
    return {"err_code": code, "err_msg": message, "request_id": str(uuid.uuid4())}


def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: object) -> None:
    data = json.dumps(payload).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout) before the answer
