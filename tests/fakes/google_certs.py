"""A loopback server that speaks Google's certs protocol, and an issuer of ID tokens it signs.

`GET /oauth2/v1/certs` answers `{kid: x509 PEM}` with a Cache-Control max-age, like Google's
own endpoint; `mint()` signs tokens with google-auth's real signer, so our verifier meets the
same bytes it would meet in production.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

CLIENT_ID = "perpetua-test.apps.googleusercontent.com"


def new_key_and_cert() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


class FakeGoogle:
    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex[:12]
        self.private_pem, self.cert_pem = new_key_and_cert()
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests += 1
                if self.path != "/oauth2/v1/certs":
                    self.send_error(404)
                    return
                body = json.dumps({fake.kid: fake.cert_pem.decode()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=300")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def certs_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/v1/certs"

    def __enter__(self) -> FakeGoogle:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def mint(self, *, private_pem: bytes | None = None, **overrides: Any) -> str:
        """A Google ID token for a verified account; `overrides` change or drop (None) claims."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "aud": CLIENT_ID,
            "sub": "1098765432101234567890",
            "email": "gina@example.com",
            "email_verified": True,
            "name": "Gina",
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        claims = {key: value for key, value in claims.items() if value is not None}
        signer = crypt.RSASigner.from_string(private_pem or self.private_pem, key_id=self.kid)
        token: bytes = jwt.encode(signer, claims)
        return token.decode()
