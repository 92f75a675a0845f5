"""RS256 key loading: dev convenience, prod strictness, rotation, JWKS."""

from __future__ import annotations

import base64
import stat
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk

from infra.keys import KeyConfigurationError, generate_key_pair, load_key_set
from infra.settings import Settings
from infra.tokens import TokenIssuer, TokenVerifier


def settings(**values: Any) -> Settings:
    # _env_file=None: a developer's .env must not change what these tests see.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def b64url_to_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_dev_generates_a_key_pair_once_and_reuses_it(tmp_path: Path) -> None:
    dev = settings(perpetua_env="dev", perpetua_data_dir=tmp_path)

    first = load_key_set(dev, need_private=True)
    second = load_key_set(dev, need_private=True)

    assert first.signing_kid is not None
    assert first.private_pem is not None
    assert (second.signing_kid, second.private_pem) == (first.signing_kid, first.private_pem)
    assert list(first.public_keys) == [first.signing_kid]
    private_file = tmp_path / "keys" / f"{first.signing_kid}.private.pem"
    assert private_file.read_bytes() == first.private_pem
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600
    assert (tmp_path / "keys" / f"{first.signing_kid}.public.pem").exists()


def test_dev_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    dev = settings(perpetua_env="dev", perpetua_data_dir=tmp_path)

    with ThreadPoolExecutor(max_workers=8) as pool:
        key_sets = list(pool.map(lambda _: load_key_set(dev, need_private=True), range(8)))

    assert len({ks.private_pem for ks in key_sets}) == 1
    assert len(list((tmp_path / "keys").glob("*.private.pem"))) == 1
    assert not list((tmp_path / "keys").glob(".tmp-*")), "temp files left behind"


def test_dev_verifier_gets_the_public_half_only(tmp_path: Path) -> None:
    dev = settings(perpetua_env="dev", perpetua_data_dir=tmp_path)
    signer = load_key_set(dev, need_private=True)

    reader = load_key_set(dev, need_private=False)

    assert reader.private_pem is None
    assert reader.signing_kid is None
    assert reader.public_keys == signer.public_keys


@pytest.mark.parametrize("need_private", [True, False])
def test_prod_without_configured_keys_refuses_to_start(tmp_path: Path, need_private: bool) -> None:
    prod = settings(perpetua_env="prod", perpetua_data_dir=tmp_path)

    with pytest.raises(KeyConfigurationError, match="JWT_PRIVATE_KEY_FILE"):
        load_key_set(prod, need_private=need_private)

    assert not (tmp_path / "keys").exists(), "prod must never generate keys"


def test_prod_signer_without_private_key_refuses_to_start(tmp_path: Path) -> None:
    generate_key_pair(tmp_path, "k1")
    public_only = settings(jwt_public_key_file=tmp_path / "k1.public.pem")

    with pytest.raises(KeyConfigurationError):
        load_key_set(public_only, need_private=True)
    assert list(load_key_set(public_only, need_private=False).public_keys) == ["k1"]


def test_configured_keys_support_rotation(tmp_path: Path) -> None:
    public_dir = tmp_path / "public"
    generate_key_pair(tmp_path, "old")
    generate_key_pair(tmp_path, "new")
    public_dir.mkdir()
    (public_dir / "old.public.pem").write_bytes((tmp_path / "old.public.pem").read_bytes())

    keys = load_key_set(
        settings(jwt_private_key_file=tmp_path / "new.private.pem", jwt_public_keys_dir=public_dir),
        need_private=True,
    )

    assert keys.signing_kid == "new"
    # The signing key's own public half is accepted without being copied anywhere.
    assert sorted(keys.public_keys) == ["new", "old"]


def test_public_keys_dir_skips_private_keys_and_names_keys_by_file(tmp_path: Path) -> None:
    generate_key_pair(tmp_path, "k1")
    (tmp_path / "legacy.pem").write_bytes((tmp_path / "k1.public.pem").read_bytes())

    keys = load_key_set(settings(jwt_public_keys_dir=tmp_path), need_private=False)

    assert sorted(keys.public_keys) == ["k1", "legacy"]


def test_a_non_key_pem_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "broken.pem").write_text("not a key")
    with pytest.raises(KeyConfigurationError, match=r"broken\.pem"):
        load_key_set(settings(jwt_public_keys_dir=tmp_path), need_private=False)


def test_a_weak_rsa_key_is_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    path = tmp_path / "weak.private.pem"
    path.write_bytes(
        weak.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyConfigurationError, match="2048"):
        load_key_set(settings(jwt_private_key_file=path), need_private=True)


def test_generating_never_overwrites_an_existing_key(tmp_path: Path) -> None:
    generate_key_pair(tmp_path, "k1")
    before = (tmp_path / "k1.private.pem").read_bytes()

    with pytest.raises(FileExistsError):
        generate_key_pair(tmp_path, "k1")

    assert (tmp_path / "k1.private.pem").read_bytes() == before


def test_generated_kids_are_unique_and_safe_file_names(tmp_path: Path) -> None:
    kids = {generate_key_pair(tmp_path) for _ in range(2)}
    assert len(kids) == 2
    with pytest.raises(KeyConfigurationError):
        generate_key_pair(tmp_path, "../escape")


def test_jwks_publishes_n_and_e_of_every_accepted_key(tmp_path: Path) -> None:
    generate_key_pair(tmp_path, "old")
    generate_key_pair(tmp_path, "new")
    keys = load_key_set(
        settings(jwt_private_key_file=tmp_path / "new.private.pem", jwt_public_keys_dir=tmp_path),
        need_private=True,
    )

    document = keys.jwks()

    assert [entry["kid"] for entry in document["keys"]] == ["new", "old"]
    for entry in document["keys"]:
        assert {k: entry[k] for k in ("kty", "use", "alg")} == {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
        }
        public_key = serialization.load_pem_public_key(
            (tmp_path / f"{entry['kid']}.public.pem").read_bytes()
        )
        assert isinstance(public_key, rsa.RSAPublicKey)
        numbers = public_key.public_numbers()
        assert b64url_to_int(entry["n"]) == numbers.n
        assert b64url_to_int(entry["e"]) == numbers.e
        assert "=" not in entry["n"] + entry["e"]
    assert "d" not in document["keys"][0], "private exponent must never be published"


def test_a_token_verifies_against_the_published_jwks(tmp_path: Path) -> None:
    generate_key_pair(tmp_path, "k1")
    keys = load_key_set(
        settings(jwt_private_key_file=tmp_path / "k1.private.pem"), need_private=True
    )
    token, _ = TokenIssuer(keys, "perpetua", "perpetua-api", 900).issue(uuid.uuid4(), "free")
    signing_input, signature = token.rsplit(".", 1)

    published = jwk.construct(keys.jwks()["keys"][0])

    assert published.verify(
        signing_input.encode(), base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    )
    assert TokenVerifier(keys, "perpetua", "perpetua-api").verify(token).tier == "free"
