"""Forged access tokens, and tokens that are not access tokens, sent over HTTP to both apps,
are 401 and change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from tests.e2e.conftest import Service
from tests.fakes.google_certs import FakeGoogle

pytestmark = pytest.mark.e2e


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def attacker_key() -> tuple[str, dict[str, Any]]:
    """A key pair of the attacker's own: its private PEM and its public key as a JWK."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, jwk.construct(public_pem, "RS256").to_dict()


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
    theirs, their_jwk = attacker_key()

    def signed(key: str, **fields: Any) -> str:
        return str(jwt.encode(claims, key, algorithm="RS256", headers={**header, **fields}))

    return {
        "alg none": f"{segment({**header, 'alg': 'none'})}.{segment(claims)}.",
        "tampered payload": f"{head}.{segment({**claims, 'tier': 'pro'})}.{signature}",
        "expired": jwt.encode(expired_claims, private_pem, algorithm="RS256", headers=header),
        "HS256 keyed with the public key": f"{hs_input}.{b64url(hs_signature)}",
        "signature of another token": f"{head}.{body}.{b64url(b'x' * 256)}",
        # RFC 8725 section 3.10: a token may not name the key it is to be checked with. Even
        # signed with our own key, a header that tries is refused.
        "jku header": signed(private_pem, jku="https://attacker.example/jwks.json"),
        "x5u header": signed(private_pem, x5u="https://attacker.example/cert.pem"),
        "jwk header with the attacker's key": signed(theirs, jwk=their_jwk),
        "unknown kid": signed(private_pem, kid="retired-or-never-ours"),
        "our kid, the attacker's key": signed(theirs),
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


def test_a_refresh_token_or_a_google_id_token_is_not_an_access_token(
    service: Service, google: FakeGoogle
) -> None:
    signed_in = service.write.post(
        "/api/v1/auth/dev-login", json={"email": "two-tokens@example.com", "name": "Two"}
    )
    assert signed_in.status_code == 200, signed_in.text
    not_access_tokens = {
        "refresh token": signed_in.json()["data"]["refresh_token"],
        # Signed, unexpired and for this service's sign-in: but by Google, for Google sign-in.
        "Google ID token": google.mint(),
    }
    for name, token in not_access_tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        for response in (
            service.write.post("/api/v1/tasks", json={"title": "not yours"}, headers=headers),
            service.read.get("/api/v1/tasks", headers=headers),
        ):
            assert response.status_code == 401, (name, response.text)
            assert response.json()["error"]["code"] == "INVALID_TOKEN", name
