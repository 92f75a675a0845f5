"""Google sign-in: verify a Google ID token with google-auth against Google's certificates.

google-auth checks the signature (against the certs at `certs_url`, whose `kid` must match),
`exp`/`iat` (with leeway) and `aud`; it does not check the issuer or `email_verified`, so we
do (reliability checklist 1.3). Accounts are keyed on `sub`: an e-mail address may change.
The display name loses any character our own API would refuse (decision 27).
The certificates are fetched over httpx and cached for as long as their Cache-Control allows,
instead of once per sign-in.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from google.auth import exceptions as google_exceptions
from google.auth import transport
from google.oauth2 import id_token

from infra.text import forbidden_character, without_forbidden_characters

GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
_MAX_AGE = re.compile(r"max-age=(\d+)")


class GoogleTokenError(Exception):
    """The ID token is not one we accept (forged, expired, for another app, unverified)."""


class GoogleCertsUnavailableError(Exception):
    """Google's certificates could not be fetched: no verdict on the token is possible."""


@dataclass(frozen=True)
class GoogleIdentity:
    subject: str
    email: str
    name: str


class _CachedResponse(transport.Response):
    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status, self._headers, self._data = status, dict(headers), data

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class CachingCertsTransport(transport.Request):
    """The `request` google-auth calls to fetch certificates, over httpx, with caching."""

    def __init__(self, timeout: float = 5.0) -> None:
        self._client = httpx.Client(timeout=timeout)
        self._cache: dict[str, tuple[float, _CachedResponse]] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _CachedResponse:
        with self._lock:
            cached = self._cache.get(url)
            if method == "GET" and cached is not None and cached[0] > time.monotonic():
                return cached[1]
        try:
            reply = self._client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise google_exceptions.TransportError(str(error)) from error  # type: ignore[no-untyped-call]
        response = _CachedResponse(reply.status_code, reply.headers, reply.content)
        max_age = _MAX_AGE.search(reply.headers.get("cache-control", ""))
        if method == "GET" and reply.status_code == 200 and max_age:
            with self._lock:
                self._cache[url] = (time.monotonic() + int(max_age.group(1)), response)
        return response


class GoogleTokenVerifier:
    def __init__(
        self, client_ids: Sequence[str], certs_url: str, *, leeway_seconds: int = 30
    ) -> None:
        self.client_ids = list(client_ids)
        self.certs_url = certs_url
        self.leeway_seconds = leeway_seconds
        self._transport = CachingCertsTransport()

    def verify(self, token: str) -> GoogleIdentity:
        try:
            claims = id_token.verify_token(
                token,
                self._transport,
                audience=self.client_ids,
                certs_url=self.certs_url,
                clock_skew_in_seconds=self.leeway_seconds,
            )
        except google_exceptions.TransportError as error:
            raise GoogleCertsUnavailableError(str(error)) from error
        except (ValueError, google_exceptions.GoogleAuthError) as error:
            raise GoogleTokenError(str(error)) from error
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise GoogleTokenError("the token was not issued by Google")
        if claims.get("email_verified") is not True or not claims.get("email"):
            raise GoogleTokenError("the Google account has no verified e-mail address")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise GoogleTokenError("the token names no subject")
        email = str(claims["email"]).lower()
        if forbidden_character(subject) or forbidden_character(email):
            # Identifiers can't be cleaned without becoming someone else's: Google never sends
            # such a token, so it is not one we accept.
            raise GoogleTokenError("the token's subject or e-mail holds control characters")
        return GoogleIdentity(subject=subject, email=email, name=display_name(claims, email))


def display_name(claims: Mapping[str, Any], email: str) -> str:
    """The `name` claim without the characters we refuse from clients (infra/text.py).

    Stripped, not refused: the user cannot change what Google sends, and refusing would lock
    them out. With nothing left, the e-mail address stands in, as when Google sends no name.
    """
    name = without_forbidden_characters(str(claims.get("name") or ""))
    return name if name.strip() else email
