"""Sign-in is limited per client IP; the limit answers 429 with Retry-After."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from commands.application import PerpetuaApplication
from infra.keys import load_key_set
from infra.rate_limit import SlidingWindow
from infra.settings import Settings
from writeapi.main import create_app


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_allows_the_limit_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    window = SlidingWindow(limit=3, window=60, clock=clock)
    assert [window.hit("1.2.3.4") for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 20
    assert window.hit("1.2.3.4") == 40.0
    assert window.hit("5.6.7.8") == 0.0  # another client has its own window
    clock.now += 40
    assert window.hit("1.2.3.4") == 0.0  # the first hit left the window


def test_sign_in_over_the_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(perpetua_env="dev", perpetua_data_dir=tmp_path, auth_requests_per_minute=3)
    application = PerpetuaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = create_app(settings, application, load_key_set(settings, need_private=True))
    body = {"email": "a@example.com", "name": "A"}
    with TestClient(app) as client:
        statuses = [client.post("/api/v1/auth/dev-login", json=body).status_code for _ in range(3)]
        limited = client.post("/api/v1/auth/dev-login", json=body)
        refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": "x"})
        health = client.get("/health/live")
    assert statuses == [200, 200, 200]
    for response in (limited, refresh):
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert "X-Request-ID" in response.headers
    assert health.status_code == 200
    events = application.recorder.select_notifications(start=1, limit=100)
    assert sum(n.topic.endswith("User.SignedIn") for n in events) == 3
