"""A loopback TCP proxy in front of PostgreSQL (TCP or unix socket) that cuts connections.

The service under test connects through it; `cut()` drops every open connection at once (what
a database restart or a network blip does), `down()` also refuses new ones until `up()`.
Threads, not asyncio: it must keep working while the test's own threads hammer the service.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

BUFFER_BYTES = 65536


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._accepting = True
        self._closed = False
        self.cuts = 0
        self._thread = threading.Thread(target=self._accept_forever, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closed = True
        self._listener.close()
        self.cut()

    def cut(self) -> int:
        """Drop every open connection; returns how many."""
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.cuts += 1
        return len(sockets) // 2

    def down(self) -> None:
        """The database is gone: cut everything and refuse new connections."""
        self._accepting = False
        self.cut()

    def up(self) -> None:
        self._accepting = True

    def _accept_forever(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._accepting:
                client.close()
                continue
            try:
                server = self._connect_upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        host, port = self.upstream
        if host.startswith("/"):  # a socket directory: the embedded server's unix socket
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(f"{host}/.s.PGSQL.{port}")
            return server
        server = socket.create_connection((host, port), timeout=5)
        server.settimeout(None)
        return server

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(BUFFER_BYTES):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
