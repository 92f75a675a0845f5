"""What the shared middlewares answer, written into every operation they stand in front of.

A route documents its own outcomes with `responses=error_responses(...)`. The middlewares
answer before any route runs (401 without a token, 413 for a body too big, 422 for a query
string that is not text, 429, the idempotency conflicts...), so their answers are documented
by the code that installs them, once: no route can forget one, and a new route gets them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from infra.envelope import ErrorEnvelope
from infra.errors import codes_by_status, error_response_doc

# (path, method, operation) -> whether the answers apply to that operation.
Where = Callable[[str, str, Mapping[str, Any]], bool]

_COMPONENTS = "#/components/schemas/"
_ENVELOPE_REF = {"$ref": f"{_COMPONENTS}{ErrorEnvelope.__name__}"}
# FastAPI documents a 422 of its own shape on any route with parameters; ours is the envelope.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


@dataclass(frozen=True)
class _Answers:
    codes: tuple[str, ...]
    where: Where
    parameters: tuple[Mapping[str, Any], ...]


def everywhere(_path: str, _method: str, _operation: Mapping[str, Any]) -> bool:
    return True


def takes_a_body(_path: str, _method: str, operation: Mapping[str, Any]) -> bool:
    return "requestBody" in operation


def document_answers(
    app: FastAPI,
    *codes: str,
    where: Where = everywhere,
    parameters: Iterable[Mapping[str, Any]] = (),
) -> None:
    """Document `codes` (and header `parameters`) on every operation of `app` `where` holds."""
    answers = _Answers(tuple(codes), where, tuple(parameters))
    codes_by_status(answers.codes)  # an unknown code fails here, at startup, not in /docs
    registered: list[_Answers] | None = getattr(app.state, "documented_answers", None)
    if registered is not None:
        registered.append(answers)
        return
    registered = [answers]
    app.state.documented_answers = registered
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _add_answers(document, registered)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_answers(document: dict[str, Any], registered: list[_Answers]) -> None:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            for answers in registered:
                if answers.where(path, method.upper(), operation):
                    _merge(operation, answers)
    _ensure_envelope_schema(document)
    _drop_unused_validation_schemas(document)


def _merge(operation: dict[str, Any], answers: _Answers) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, codes in codes_by_status(answers.codes).items():
        existing = responses.get(str(status), {})
        examples = existing.get("content", {}).get("application/json", {}).get("examples", {})
        doc = error_response_doc(status, [*examples, *(c for c in codes if c not in examples)])
        doc["content"]["application/json"]["schema"] = _ENVELOPE_REF
        responses[str(status)] = doc
    declared = operation.setdefault("parameters", [])
    names = {(p.get("in"), str(p.get("name", "")).lower()) for p in declared}
    for parameter in answers.parameters:
        if (parameter["in"], parameter["name"].lower()) not in names:
            declared.append(dict(parameter))


def _ensure_envelope_schema(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    generated = ErrorEnvelope.model_json_schema(ref_template=f"{_COMPONENTS}{{model}}")
    for name, schema in generated.pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    schemas.setdefault(ErrorEnvelope.__name__, generated)


def _drop_unused_validation_schemas(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        without = {key: value for key, value in schemas.items() if key != name}
        rest = json.dumps(
            {**document, "components": {**document["components"], "schemas": without}}
        )
        if f'"{_COMPONENTS}{name}"' not in rest:
            schemas.pop(name, None)
