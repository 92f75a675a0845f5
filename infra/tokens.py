"""Access tokens: RS256 JWTs issued by the write API, verified by both apps.

python-jose is only ever called from this module, with the algorithm pinned: its
`jwt.decode` trusts the header's `alg` when `algorithms` is omitted (CVE-2024-33663) and
requires no claim by default, so every check that matters is explicit here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from jose import jwk, jwt

from infra.keys import KeyConfigurationError, KeySet

ALGORITHM = "RS256"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JWT "typ", not a secret)
# RFC 9068 allows the media-type form too.
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# Exactly what TokenIssuer writes. Anything else (jku, x5u, jwk, x5c, crit, zip, enc...) is
# a request to trust something the token itself names: refused (RFC 8725 section 3.10).
_ALLOWED_HEADER_FIELDS = frozenset({"alg", "kid", "typ"})
# Ours are < 1 KiB; a cap keeps hostile megabyte headers from reaching the JSON parser.
MAX_TOKEN_LENGTH = 8 * 1024
DEFAULT_LEEWAY_SECONDS = 30
# Verified tokens remembered per process (a few hundred bytes each).
VERIFIED_CACHE_SIZE = 10_000


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: UUID
    tier: str
    token_id: str


class InvalidTokenError(Exception):
    """The token is not an access token we issued and that is still valid.

    `str(exc)` is a reason for logs; clients get a generic message.
    """

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


class TokenIssuer:
    def __init__(
        self,
        key_set: KeySet,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        if key_set.private_pem is None or key_set.signing_kid is None:
            raise KeyConfigurationError("A signing key is required to issue access tokens")
        # Parsing an RSA key costs milliseconds: do it once, not per token.
        self._key = jwk.construct(key_set.private_pem, ALGORITHM)
        self._kid = key_set.signing_kid
        self._issuer = issuer
        self._audience = audience
        self._ttl_seconds = ttl_seconds
        self._clock = clock

    def issue(self, user_id: UUID, tier: str) -> tuple[str, int]:
        """(token, expires_in seconds)."""
        issued_at = int(self._clock().timestamp())
        claims = {
            "sub": str(user_id),
            "iss": self._issuer,
            "aud": self._audience,
            "iat": issued_at,
            "exp": issued_at + self._ttl_seconds,
            "jti": uuid.uuid4().hex,
            "tier": tier,
        }
        headers = {"kid": self._kid, "typ": ACCESS_TOKEN_TYPE}
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers=headers)
        return str(token), self._ttl_seconds


class TokenVerifier:
    def __init__(
        self,
        key_set: KeySet,
        issuer: str,
        audience: str,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        if not key_set.public_keys:
            raise KeyConfigurationError("At least one public key is required to verify tokens")
        # One key object per kid, each usable for RS256 only.
        self._keys = {
            kid: jwk.construct(pem, ALGORITHM) for kid, pem in key_set.public_keys.items()
        }
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._clock = clock
        # Tokens whose signature and claims already passed, with those claims: a client sends
        # the same token with every request for 15 minutes, and checking an RS256 signature
        # is most of what a cached read costs. Only the time checks run again.
        self._verified: dict[str, tuple[Principal, Mapping[str, Any]]] = {}

    def verify(self, token: str) -> Principal:
        """The principal of a valid access token; InvalidTokenError for anything else."""
        verified = self._verified.get(token) if isinstance(token, str) else None
        if verified is not None:
            principal, claims = verified
            self._check_times(claims)
            return principal
        principal, claims = self._verify_signed(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # crude, but bounded and never wrong
        self._verified[token] = (principal, claims)
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, Mapping[str, Any]]:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            # A JWE has five segments; we never decrypt anything (CVE-2024-33664).
            raise InvalidTokenError("malformed token")
        key = self._key_for(self._checked_header(token))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    # Time claims are checked below against the injectable clock; jose
                    # would use the wall clock (and require_* would force it back on).
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require_aud": True,
                    "require_iss": True,
                    "require_sub": True,
                    "require_jti": True,
                    "leeway": self._leeway,
                },
            )
        except Exception as exc:
            # Any failure inside jose (signature, claims, a library bug on odd input)
            # means "not a valid token", never a 500.
            raise InvalidTokenError(f"rejected by jose: {exc}") from exc
        if not isinstance(claims, Mapping):
            raise InvalidTokenError("claims are not a JSON object")
        self._check_times(claims)
        return _principal_from(claims), claims

    def _checked_header(self, token: str) -> Mapping[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except Exception as exc:
            raise InvalidTokenError("unreadable header") from exc
        if not isinstance(header, Mapping):
            raise InvalidTokenError("header is not a JSON object")
        unexpected = set(header) - _ALLOWED_HEADER_FIELDS
        if unexpected:
            raise InvalidTokenError(f"unexpected header fields {sorted(unexpected)}")
        if header.get("alg") != ALGORITHM:
            # Pinned before any key is touched: no `none`, no HS256-with-public-key.
            raise InvalidTokenError(f"algorithm {header.get('alg')!r} not allowed")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
            # Keeps refresh tokens and ID tokens from being replayed as access tokens.
            raise InvalidTokenError(f"token type {typ!r} is not an access token")
        return header

    def _key_for(self, header: Mapping[str, Any]) -> Any:
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise InvalidTokenError(f"unknown key id {kid!r}")
        return self._keys[kid]

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock().timestamp()
        exp = _int_claim(claims, "exp")
        iat = _int_claim(claims, "iat")
        if now > exp + self._leeway:
            raise InvalidTokenError("token expired", expired=True)
        if iat > now + self._leeway:
            raise InvalidTokenError("token issued in the future")
        if "nbf" in claims and _int_claim(claims, "nbf") > now + self._leeway:
            raise InvalidTokenError("token not valid yet")


def _int_claim(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    # bool is an int subclass; `"exp": true` is not a time.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTokenError(f"claim {name!r} missing or not an integer")
    return value


def _principal_from(claims: Mapping[str, Any]) -> Principal:
    sub, tier, jti = claims.get("sub"), claims.get("tier"), claims.get("jti")
    try:
        user_id = UUID(str(sub))
    except ValueError:
        raise InvalidTokenError("subject is not a user id") from None
    if str(user_id) != sub:
        raise InvalidTokenError("subject is not a canonical user id")
    if not isinstance(tier, str) or not tier:
        raise InvalidTokenError("tier claim missing")
    if not isinstance(jti, str) or not jti:
        raise InvalidTokenError("jti claim missing")
    return Principal(user_id=user_id, tier=tier, token_id=jti)
