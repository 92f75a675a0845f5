"""Access tokens: what we issue verifies, and every forgery in the checklist (2.A) does not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jose import jwt

from infra.keys import KeySet, generate_key_pair
from infra.tokens import InvalidTokenError, Principal, TokenIssuer, TokenVerifier

ISSUER = "perpetua"
AUDIENCE = "perpetua-api"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    for kid in ("k1", "k2"):
        generate_key_pair(directory, kid)
    # A second key that claims to be k1: what an attacker with their own key would send.
    generate_key_pair(directory / "attacker", "k1")
    return directory


def private_pem(directory: Path, kid: str) -> bytes:
    return (directory / f"{kid}.private.pem").read_bytes()


def public_pem(directory: Path, kid: str) -> bytes:
    return (directory / f"{kid}.public.pem").read_bytes()


def key_set(directory: Path, signing: str, *accepted: str) -> KeySet:
    return KeySet(
        signing_kid=signing,
        private_pem=private_pem(directory, signing),
        public_keys={kid: public_pem(directory, kid) for kid in accepted},
    )


def verifier(keys: KeySet, now: datetime = T0) -> TokenVerifier:
    return TokenVerifier(keys, ISSUER, AUDIENCE, leeway_seconds=30, clock=fixed(now))


def valid_claims(now: datetime = T0) -> dict[str, Any]:
    iat = int(now.timestamp())
    return {
        "sub": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": iat,
        "exp": iat + 900,
        "jti": uuid.uuid4().hex,
        "tier": "free",
    }


def sign(claims: dict[str, Any], pem: bytes, headers: dict[str, Any] | None = None) -> str:
    """Sign with the real RS256 machinery, so only the content under test is wrong."""
    all_headers = {"kid": "k1", "typ": "at+jwt", **(headers or {})}
    return str(jwt.encode(claims, pem.decode(), algorithm="RS256", headers=all_headers))


def test_issued_token_verifies_to_the_user_and_tier(key_dir: Path) -> None:
    keys = key_set(key_dir, "k1", "k1")
    user_id = uuid.uuid4()
    token, expires_in = TokenIssuer(keys, ISSUER, AUDIENCE, 900, clock=fixed(T0)).issue(
        user_id, "pro"
    )

    principal = verifier(keys).verify(token)

    assert expires_in == 900
    assert principal == Principal(user_id=user_id, tier="pro", token_id=principal.token_id)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": "k1", "typ": "at+jwt"}
    claims = jwt.get_unverified_claims(token)
    assert set(claims) == {"sub", "iss", "aud", "iat", "exp", "jti", "tier"}
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"] == principal.token_id


def test_each_token_gets_its_own_id(key_dir: Path) -> None:
    issuer = TokenIssuer(key_set(key_dir, "k1", "k1"), ISSUER, AUDIENCE, 900, clock=fixed(T0))
    user_id = uuid.uuid4()
    first, _ = issuer.issue(user_id, "free")
    second, _ = issuer.issue(user_id, "free")
    assert jwt.get_unverified_claims(first)["jti"] != jwt.get_unverified_claims(second)["jti"]


def test_alg_none_token_is_rejected(key_dir: Path) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": "k1"}
    token = f"{b64url_json(header)}.{b64url_json(valid_claims())}."
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


def test_tampered_payload_is_rejected(key_dir: Path) -> None:
    keys = key_set(key_dir, "k1", "k1")
    token, _ = TokenIssuer(keys, ISSUER, AUDIENCE, 900, clock=fixed(T0)).issue(uuid.uuid4(), "free")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["tier"] = "pro"

    forged = f"{header}.{b64url_json(claims)}.{signature}"

    with pytest.raises(InvalidTokenError):
        verifier(keys).verify(forged)


@pytest.mark.parametrize(
    ("seconds_after_expiry", "accepted"),
    [(-1, True), (29, True), (31, False), (3600, False)],
)
def test_expiry_is_enforced_with_30_seconds_of_leeway(
    key_dir: Path, seconds_after_expiry: int, accepted: bool
) -> None:
    keys = key_set(key_dir, "k1", "k1")
    token, ttl = TokenIssuer(keys, ISSUER, AUDIENCE, 900, clock=fixed(T0)).issue(
        uuid.uuid4(), "free"
    )
    later = verifier(keys, now=T0 + timedelta(seconds=ttl + seconds_after_expiry))

    if accepted:
        later.verify(token)
    else:
        with pytest.raises(InvalidTokenError) as raised:
            later.verify(token)
        assert raised.value.expired


def test_token_issued_in_the_future_is_rejected(key_dir: Path) -> None:
    keys = key_set(key_dir, "k1", "k1")
    token, _ = TokenIssuer(
        keys, ISSUER, AUDIENCE, 900, clock=fixed(T0 + timedelta(minutes=5))
    ).issue(uuid.uuid4(), "free")
    with pytest.raises(InvalidTokenError):
        verifier(keys, now=T0).verify(token)


@pytest.mark.parametrize(
    "encoding",
    [
        (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        (serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
    ],
    ids=["pem", "pkcs1-pem", "der", "openssh"],
)
def test_hs256_token_keyed_with_our_public_key_is_rejected(
    key_dir: Path, encoding: tuple[serialization.Encoding, serialization.PublicFormat]
) -> None:
    # CVE-2024-33663: the public key is public, so an attacker can HMAC with it.
    public_key = serialization.load_pem_public_key(public_pem(key_dir, "k1"))
    secret = public_key.public_bytes(*encoding)
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'at+jwt', 'kid': 'k1'})}."
    signing_input += b64url_json(valid_claims())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url(mac)}"

    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("iss", "someone-else"), ("aud", "another-api"), ("aud", ["another-api"])],
)
def test_token_for_another_issuer_or_audience_is_rejected(
    key_dir: Path, claim: str, value: Any
) -> None:
    token = sign({**valid_claims(), claim: value}, private_pem(key_dir, "k1"))
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


@pytest.mark.parametrize("claim", ["exp", "iat", "aud", "iss", "sub", "jti", "tier"])
def test_token_missing_a_required_claim_is_rejected(key_dir: Path, claim: str) -> None:
    claims = valid_claims()
    del claims[claim]
    token = sign(claims, private_pem(key_dir, "k1"))
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


def test_sign_helper_makes_tokens_the_verifier_accepts(key_dir: Path) -> None:
    # Guards the tests above: they fail for the mutated claim, not for the helper.
    token = sign(valid_claims(), private_pem(key_dir, "k1"))
    assert verifier(key_set(key_dir, "k1", "k1")).verify(token).tier == "free"


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", "not-a-uuid"), ("sub", 42), ("exp", "tomorrow"), ("exp", True), ("tier", "")],
)
def test_token_with_malformed_claims_is_rejected(key_dir: Path, claim: str, value: Any) -> None:
    token = sign({**valid_claims(), claim: value}, private_pem(key_dir, "k1"))
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


def test_token_with_unknown_kid_is_rejected(key_dir: Path) -> None:
    token = sign(valid_claims(), private_pem(key_dir, "k2"), headers={"kid": "k2"})
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


def test_token_without_kid_is_rejected(key_dir: Path) -> None:
    claims = valid_claims()
    token = str(jwt.encode(claims, private_pem(key_dir, "k1").decode(), "RS256", {"typ": "at+jwt"}))
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


def test_token_signed_by_another_key_with_our_kid_is_rejected(key_dir: Path) -> None:
    token = sign(valid_claims(), private_pem(key_dir / "attacker", "k1"))
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


@pytest.mark.parametrize(
    "extra_header",
    [
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"crit": ["exp"]},
    ],
    ids=["jku", "x5u", "jwk", "crit"],
)
def test_token_naming_its_own_key_source_is_rejected(
    key_dir: Path, extra_header: dict[str, Any]
) -> None:
    token = sign(valid_claims(), private_pem(key_dir, "k1"), headers=extra_header)
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


@pytest.mark.parametrize("typ", ["JWT", "refresh+jwt", None])
def test_token_that_is_not_an_access_token_is_rejected(key_dir: Path, typ: str | None) -> None:
    token = sign(valid_claims(), private_pem(key_dir, "k1"), headers={"typ": typ})
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b", "a.b.c", "a.b.c.d.e", "!!!.???.###", "eyJ" + "A" * 20_000 + ".e30.x"],
    ids=["empty", "word", "two-parts", "junk-parts", "jwe-shape", "bad-base64", "huge"],
)
def test_malformed_tokens_are_rejected_not_crashed_on(key_dir: Path, token: str) -> None:
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k1", "k1")).verify(token)


def test_rotation_keeps_old_kid_valid_until_it_is_removed(key_dir: Path) -> None:
    user_id = uuid.uuid4()
    old_token, _ = TokenIssuer(
        key_set(key_dir, "k1", "k1"), ISSUER, AUDIENCE, 900, clock=fixed(T0)
    ).issue(user_id, "free")
    rotated = key_set(key_dir, "k2", "k1", "k2")
    new_token, _ = TokenIssuer(rotated, ISSUER, AUDIENCE, 900, clock=fixed(T0)).issue(
        user_id, "free"
    )

    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert verifier(rotated).verify(old_token).user_id == user_id
    assert verifier(rotated).verify(new_token).user_id == user_id
    with pytest.raises(InvalidTokenError):
        verifier(key_set(key_dir, "k2", "k2")).verify(old_token)
