"""What the write API offers depends on its mode: dev conveniences never reach prod."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from commands.application import PerpetuaApplication
from infra.keys import KeyConfigurationError, generate_key_pair, load_key_set
from infra.settings import Settings
from writeapi.main import create_app


def write_client(settings: Settings) -> TestClient:
    application = PerpetuaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    key_set = load_key_set(settings, need_private=True)
    return TestClient(create_app(settings, application, key_set))


def test_prod_has_no_dev_login(tmp_path: Path) -> None:
    kid = generate_key_pair(tmp_path, "prod")
    settings = Settings(perpetua_env="prod", jwt_private_key_file=tmp_path / f"{kid}.private.pem")
    with write_client(settings) as client:
        response = client.post(
            "/api/v1/auth/dev-login", json={"email": "a@example.com", "name": "A"}
        )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_dev_has_dev_login(tmp_path: Path) -> None:
    settings = Settings(perpetua_env="dev", perpetua_data_dir=tmp_path)
    with write_client(settings) as client:
        response = client.post(
            "/api/v1/auth/dev-login", json={"email": "a@example.com", "name": "A"}
        )
    assert response.status_code == 200
    assert response.headers["X-Event-Position"] == str(response.json()["meta"]["position"])


def test_prod_refuses_to_start_without_real_keys(tmp_path: Path) -> None:
    settings = Settings(perpetua_env="prod", perpetua_data_dir=tmp_path)
    with pytest.raises(KeyConfigurationError):
        load_key_set(settings, need_private=True)
    assert not (tmp_path / "keys").exists()


def test_the_billing_webhook_answers_503_until_a_secret_is_configured(tmp_path: Path) -> None:
    settings = Settings(perpetua_env="dev", perpetua_data_dir=tmp_path)
    with write_client(settings) as client:
        response = client.post("/api/v1/webhooks/billing", json={"id": "evt_1"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "BILLING_NOT_CONFIGURED"
