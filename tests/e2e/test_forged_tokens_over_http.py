"""Forged access tokens, sent over HTTP to both apps, are 401 and change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from jose import jwt

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def forgeries(service: Service) -> dict[str, str]:
    """Tokens made from a genuine one, each wrong in one way an attacker would try."""
    token = service.sign_in()["Authorization"].removeprefix("Bearer ")
    header, claims = jwt.get_unverified_header(token), jwt.get_unverified_claims(token)
    head, body, signature = token.split(".")
    public_pem = (service.settings.keys_dir / f"{header['kid']}.public.pem").read_bytes()
    hs_input = f"{segment({**header, 'alg': 'HS256'})}.{segment(claims)}"
    hs_signature = hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()
    private_pem = (service.settings.keys_dir / f"{header['kid']}.private.pem").read_text()
    expired_claims = {**claims, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 120}
    return {
        "alg none": f"{segment({**header, 'alg': 'none'})}.{segment(claims)}.",
        "tampered payload": f"{head}.{segment({**claims, 'tier': 'pro'})}.{signature}",
        "expired": jwt.encode(expired_claims, private_pem, algorithm="RS256", headers=header),
        "HS256 keyed with the public key": f"{hs_input}.{b64url(hs_signature)}",
        "signature of another token": f"{head}.{body}.{b64url(b'x' * 256)}",
    }


def test_forged_tokens_are_401_on_both_apps(service: Service) -> None:
    for name, token in forgeries(service).items():
        headers = {"Authorization": f"Bearer {token}"}
        responses: list[httpx.Response] = [
            service.write.post("/api/v1/tasks", json={"title": "forged"}, headers=headers),
            service.read.get("/api/v1/tasks", headers=headers),
        ]
        for response in responses:
            assert response.status_code == 401, (name, response.text)
            assert response.json()["error"]["code"] == "INVALID_TOKEN", name
            assert "invalid_token" in response.headers["WWW-Authenticate"]
