"""The one rule for text from outside, and the places that apply it to every way in."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from commands.application import PerpetuaApplication
from infra.google_identity import display_name
from infra.keys import load_key_set
from infra.middleware import query_text_problem
from infra.settings import Settings
from infra.text import forbidden_character, without_forbidden_characters
from writeapi.main import create_app
from writeapi.schemas import StrictBody

C0_BUT_WHITESPACE = [chr(code) for code in range(0x20) if chr(code) not in "\t\n\r"]


@pytest.mark.parametrize("character", [*C0_BUT_WHITESPACE, chr(0xD800), chr(0xDFFF)])
def test_control_characters_and_lone_surrogates_are_refused(character: str) -> None:
    assert forbidden_character(f"a{character}b") == f"U+{ord(character):04X}"
    assert without_forbidden_characters(f"a{character}b") == "ab"


@pytest.mark.parametrize("text", ["", "tab\tnew\nline\r", "café ✓ 🎉", "\u007f\u0085\ufffd"])
def test_whitespace_and_every_other_character_is_text(text: str) -> None:
    assert forbidden_character(text) is None
    assert without_forbidden_characters(text) == text


def test_every_command_body_of_the_write_api_is_a_strict_body(tmp_path: Path) -> None:
    # The body check lives on StrictBody; a body model that skipped it would skip the check.
    settings = Settings(perpetua_env="dev", perpetua_data_dir=tmp_path)
    application = PerpetuaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = create_app(settings, application, load_key_set(settings, need_private=True))
    strict = {model.__name__ for model in _subclasses(StrictBody)}
    schemas = [
        (path, operation["requestBody"]["content"]["application/json"]["schema"])
        for path, operations in app.openapi()["paths"].items()
        for operation in operations.values()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    # A body is named by its reference, or by its title where a route inlines its schema
    # (the billing webhook parses its body itself, after checking the signature).
    bodies = [(path, schema.get("$ref", schema.get("title", ""))) for path, schema in schemas]
    assert len(bodies) >= 10
    assert [(path, ref) for path, ref in bodies if ref.rsplit("/", 1)[-1] not in strict] == []


class Nested(StrictBody):
    tags: list[str]
    labels: dict[str, str]


@pytest.mark.parametrize(
    "data",
    [
        {"tags": ["ok", "b\u0000d"], "labels": {}},
        {"tags": [], "labels": {"key": "b\u0007d"}},
        {"tags": [], "labels": {"b\u0000d": "value"}},
    ],
)
def test_text_nested_in_a_body_field_is_checked_too(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as refused:
        Nested.model_validate(data)
    assert refused.value.errors()[0]["type"] == "forbidden_character"


@pytest.mark.parametrize(
    ("query", "loc", "error_type"),
    [
        (b"search=a%00b", ["query", "search"], "forbidden_character"),
        (b"limit=5&search=a%07", ["query", "search"], "forbidden_character"),
        (b"search=%FF", ["query", "search"], "unicode_decode"),
        (b"search=\xff", ["query", "search"], "unicode_decode"),
        (b"search=%ED%A0%80", ["query", "search"], "unicode_decode"),
        (b"%FF=1", ["query"], "unicode_decode"),
        (b"a%00=1", ["query"], "forbidden_character"),
    ],
)
def test_a_query_string_is_decoded_strictly_and_the_field_named(
    query: bytes, loc: list[str], error_type: str
) -> None:
    problem = query_text_problem(query)
    assert problem is not None
    assert [(field["loc"], field["type"]) for field in problem["fields"]] == [(loc, error_type)]


@pytest.mark.parametrize(
    "query", [b"", b"limit=5", b"search=caf%C3%A9+au+lait", b"search=tab%09ok&&x", b"a=%2B1"]
)
def test_ordinary_query_strings_pass(query: bytes) -> None:
    assert query_text_problem(query) is None


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        ({"name": "Gi\u0000na"}, "Gina"),
        ({"name": "\u0000\u0007"}, "gina@example.com"),
        ({"name": " \ud800 "}, "gina@example.com"),
        ({}, "gina@example.com"),
        ({"name": "Gina\tMaria"}, "Gina\tMaria"),
    ],
)
def test_a_google_name_is_cleaned_not_refused(claims: dict[str, str], name: str) -> None:
    assert display_name(claims, "gina@example.com") == name


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]
