"""What the fake providers share: a threaded HTTP server on 127.0.0.1 that answers POSTs to one
path, counts them, keeps what they asked, and closes promptly at the end of a test."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar
from urllib.parse import urlsplit

TRequest = TypeVar("TRequest")


class LoopbackPostServer(Generic[TRequest]):
    """Subclasses set `path` (and `url_suffix`) and implement `_received`."""

    path: str
    url_suffix = ""

    def __init__(self) -> None:
        # Longer than the client's timeout in the tests; cut short when the server closes.
        self.timeout_sleep_seconds = 3.0
        self.requests: list[TRequest] = []
        self._calls = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urlsplit(self.path)
                if url.path != fake.path:
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake._received(self, url.query, body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for it, and every test ends with one.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _received(self, handler: BaseHTTPRequestHandler, query: str, body: bytes) -> None:
        raise NotImplementedError

    def _record(self, request: TRequest) -> None:
        with self._lock:
            self._calls += 1
            self.requests.append(request)

    def _sleep_for_timeout(self) -> bool:
        """Hold the answer back past the client's timeout; True if the server closed meanwhile
        (nobody is waiting for this answer any more)."""
        return self._closing.wait(self.timeout_sleep_seconds)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.url_suffix}"

    @property
    def calls(self) -> int:
        """Requests received on `path`."""
        with self._lock:
            return self._calls

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._closing.set()  # wakes handlers sleeping in "timeout" mode
        self.server.shutdown()
        self.server.server_close()
