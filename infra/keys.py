"""RS256 key management: generating pairs, loading the signing key and accepted public keys.

Files are named `<kid>.private.pem` / `<kid>.public.pem`, so the key id travels with the file.
Rotation = add a new pair, point JWT_PRIVATE_KEY_FILE at it, keep the old public key in
JWT_PUBLIC_KEYS_DIR until the old tokens have expired.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.settings import Settings

log: structlog.stdlib.BoundLogger = structlog.get_logger(__name__)

KEY_SIZE_BITS = 2048
MIN_KEY_SIZE_BITS = 2048
DEV_KID = "dev"
# A kid becomes part of a file name: no separators, no leading dot.
_KID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")


class KeyConfigurationError(RuntimeError):
    """The token keys are missing or unusable; the process must not start."""


@dataclass
class KeySet:
    """One signing key (absent where only verification is needed) and every accepted key."""

    signing_kid: str | None
    private_pem: bytes | None
    public_keys: dict[str, bytes] = field(default_factory=dict)

    def jwks(self) -> dict[str, Any]:
        """The JWKS document (RFC 7517) of every accepted public key."""
        keys = []
        for kid in sorted(self.public_keys):
            numbers = _load_public(self.public_keys[kid], source=f"kid {kid!r}").public_numbers()
            keys.append(
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": kid,
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                }
            )
        return {"keys": keys}


def new_kid() -> str:
    """Sortable by creation date, unique enough to never collide in one deployment."""
    return f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def generate_key_pair(directory: Path, kid: str | None = None) -> str:
    """Write `<kid>.private.pem` (0600) and `<kid>.public.pem`; never overwrite a private key.

    Raises FileExistsError if the kid is taken, so concurrent callers agree on one key.
    """
    kid = kid or new_kid()
    _check_kid(kid)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE_BITS)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _create_exclusive(directory / f"{kid}.private.pem", private_pem)
    # Only the winner of the private key reaches this point, so replacing is safe.
    _write_atomic(directory / f"{kid}.public.pem", _public_pem_of(private_key), mode=0o644)
    return kid


def load_key_set(settings: Settings, *, need_private: bool) -> KeySet:
    """The keys configured in settings; in dev with none configured, a generated pair."""
    configured = any(
        path is not None
        for path in (
            settings.jwt_private_key_file,
            settings.jwt_public_keys_dir,
            settings.jwt_public_key_file,
        )
    )
    if not configured:
        if not settings.is_dev:
            msg = (
                "No JWT keys configured. Set JWT_PRIVATE_KEY_FILE (write API) and "
                "JWT_PUBLIC_KEYS_DIR or JWT_PUBLIC_KEY_FILE; create a pair with "
                "`perpetua keys generate`. Generated keys are only used with PERPETUA_ENV=dev."
            )
            raise KeyConfigurationError(msg)
        key_set = _dev_key_set(settings.keys_dir)
    else:
        key_set = _configured_key_set(settings)

    if need_private and key_set.private_pem is None:
        msg = "JWT_PRIVATE_KEY_FILE is required to sign access tokens"
        raise KeyConfigurationError(msg)
    if not key_set.public_keys:
        raise KeyConfigurationError("No public key found to verify access tokens")
    if not need_private:
        # A verifying process has no business holding the signing key.
        key_set = KeySet(signing_kid=None, private_pem=None, public_keys=key_set.public_keys)
    return key_set


def kid_from_path(path: Path) -> str:
    """`k1.private.pem`, `k1.public.pem` and `k1.pem` all have kid `k1`."""
    name = path.name
    for suffix in (".private.pem", ".public.pem", ".pem"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    _check_kid(name)
    return name


def _configured_key_set(settings: Settings) -> KeySet:
    signing_kid: str | None = None
    private_pem: bytes | None = None
    public_keys: dict[str, bytes] = {}

    if settings.jwt_private_key_file is not None:
        path = settings.jwt_private_key_file
        signing_kid = kid_from_path(path)
        private_pem = _read(path)
        _warn_if_readable_by_others(path)
        _add_public(public_keys, signing_kid, _public_pem_of(_load_private(private_pem, path)))

    if settings.jwt_public_key_file is not None:
        path = settings.jwt_public_key_file
        _add_public(public_keys, kid_from_path(path), _checked_public(_read(path), path))

    if settings.jwt_public_keys_dir is not None:
        directory = settings.jwt_public_keys_dir
        if not directory.is_dir():
            raise KeyConfigurationError(f"JWT_PUBLIC_KEYS_DIR {directory} is not a directory")
        for path in sorted(directory.glob("*.pem")):
            # The signing key may sit next to its public half; it is not a public key.
            # Dotfiles are temp files of a key being written (see _write_temp).
            if path.name.endswith(".private.pem") or path.name.startswith("."):
                continue
            _add_public(public_keys, kid_from_path(path), _checked_public(_read(path), path))

    return KeySet(signing_kid=signing_kid, private_pem=private_pem, public_keys=public_keys)


def _dev_key_set(directory: Path) -> KeySet:
    """Reuse the newest private key under the dev keys dir, generating one the first time."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not any(directory.glob("*.private.pem")):
        # Several processes (write API, read API, projectors) may start at once: the
        # exclusive create lets exactly one generate and the rest read the winner's key.
        with contextlib.suppress(FileExistsError):
            generate_key_pair(directory, DEV_KID)
            log.warning("generated_dev_jwt_keys", directory=str(directory), kid=DEV_KID)

    private_paths = sorted(
        directory.glob("*.private.pem"), key=lambda p: (p.stat().st_mtime, p.name)
    )
    public_keys: dict[str, bytes] = {}
    for path in private_paths:
        # Public halves are derived, not read, so a half-written .public.pem never matters.
        _add_public(
            public_keys, kid_from_path(path), _public_pem_of(_load_private(_read(path), path))
        )
    for path in sorted(directory.glob("*.public.pem")):
        kid = kid_from_path(path)
        if kid not in public_keys:
            _add_public(public_keys, kid, _checked_public(_read(path), path))
    signing = private_paths[-1]
    return KeySet(
        signing_kid=kid_from_path(signing), private_pem=_read(signing), public_keys=public_keys
    )


def _add_public(public_keys: dict[str, bytes], kid: str, pem: bytes) -> None:
    existing = public_keys.get(kid)
    if existing is not None and _normalized(existing) != _normalized(pem):
        raise KeyConfigurationError(f"Two different public keys share kid {kid!r}")
    public_keys[kid] = pem


def _check_kid(kid: str) -> None:
    if not _KID_PATTERN.match(kid):
        msg = f"Invalid key id {kid!r}: use 1-64 characters of [A-Za-z0-9._-]"
        raise KeyConfigurationError(msg)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyConfigurationError(f"Cannot read key file {path}: {exc.strerror}") from exc


def _load_private(pem: bytes, source: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError(f"{source} is not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyConfigurationError(f"{source} is not an RSA key (RS256 needs RSA)")
    _check_size(key.key_size, source)
    return key


def _load_public(pem: bytes, *, source: object) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError(f"{source} is not a PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyConfigurationError(f"{source} is not an RSA key (RS256 needs RSA)")
    _check_size(key.key_size, source)
    return key


def _checked_public(pem: bytes, source: Path) -> bytes:
    _load_public(pem, source=source)
    return pem


def _check_size(bits: int, source: object) -> None:
    if bits < MIN_KEY_SIZE_BITS:
        raise KeyConfigurationError(f"{source}: RSA key of {bits} bits, need >= 2048")


def _public_pem_of(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _normalized(pem: bytes) -> bytes:
    return _load_public(pem, source="public key").public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _warn_if_readable_by_others(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            log.warning("jwt_private_key_permissions_too_open", path=str(path))


def _create_exclusive(path: Path, data: bytes) -> None:
    """Create `path` with `data` (mode 0600) atomically; FileExistsError if it exists.

    Written to a temp file first and hard-linked into place, so no reader ever sees a
    half-written key and no writer ever replaces an existing one.
    """
    tmp = _write_temp(path.parent, data, mode=0o600)
    try:
        os.link(tmp, path)
    finally:
        tmp.unlink()


def _write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    tmp = _write_temp(path.parent, data, mode=mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_temp(directory: Path, data: bytes, *, mode: int) -> Path:
    # mkstemp creates the file 0600 from the start: the key is never briefly world-readable.
    fd, name = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(name, mode)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
