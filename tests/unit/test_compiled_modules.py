"""The compiled hot modules (infra/compiled.py) are used only while they match their sources:
after an edit, or where they were never built, the sources are imported as ever."""

from __future__ import annotations

import importlib.machinery
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import projections.activity
import projections.binary_arrays
import projections.task_fold
import projectors.event_decoding
from infra import compiled

COMPILED_NOW = (
    projectors.event_decoding,
    projections.binary_arrays,
    projections.activity,
    projections.task_fold,
)


@pytest.fixture
def built_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty build directory standing in for the environment's."""
    monkeypatch.setattr(compiled, "BUILT", tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # prefer_compiled adds the directory
    compiled._built_from_these_sources.cache_clear()
    yield tmp_path
    compiled._built_from_these_sources.cache_clear()


def write_manifest(built: Path, manifest: dict[str, Any]) -> None:
    (built / compiled.MANIFEST).write_text(json.dumps(manifest))


SOURCES = ["projections/activity.py", "projections/base.py", "projectors/event_decoding.py"]


def test_modules_built_from_these_sources_come_first(built_in: Path) -> None:
    write_manifest(built_in, compiled._manifest(SOURCES))
    path = compiled.prefer_compiled("projections", ["/src/projections"])
    assert path == [str(built_in / "projections"), "/src/projections"]


def test_after_an_edit_of_any_source_they_were_built_from_the_sources_are_imported(
    built_in: Path,
) -> None:
    manifest = compiled._manifest(SOURCES)
    # Built against another projections/base.py: not compiled itself, but the compiled
    # modules rely on its types. The modules are built as one group: none of them is used.
    manifest["sources"]["projections/base.py"] = "0" * 64
    write_manifest(built_in, manifest)
    assert compiled.prefer_compiled("projectors", ["/src/projectors"]) == ["/src/projectors"]


def test_modules_built_by_another_python_are_not_used(built_in: Path) -> None:
    write_manifest(built_in, {**compiled._manifest(SOURCES), "python": "cpython-399"})
    assert compiled.prefer_compiled("projections", ["/src/p"]) == ["/src/p"]


def test_a_build_of_other_modules_is_not_used(built_in: Path) -> None:
    manifest = compiled._manifest(SOURCES)
    write_manifest(built_in, {**manifest, "modules": manifest["modules"][1:]})
    assert compiled.prefer_compiled("projections", ["/src/p"]) == ["/src/p"]


def test_where_nothing_was_built_the_sources_are_imported(built_in: Path) -> None:
    assert compiled.prefer_compiled("projections", ["/src/p"]) == ["/src/p"]
    (built_in / compiled.MANIFEST).write_text("{not json")
    compiled._built_from_these_sources.cache_clear()
    assert compiled.prefer_compiled("projections", ["/src/p"]) == ["/src/p"]


def test_this_environment_runs_the_compiled_modules_exactly_when_they_match() -> None:
    # `make install` builds them; a plain `pip install` does not: both must import right.
    built = compiled._built_from_these_sources()
    for module in COMPILED_NOW:
        extension = module.__file__ is not None and module.__file__.endswith(
            tuple(importlib.machinery.EXTENSION_SUFFIXES)
        )
        assert extension == built, module.__name__


def test_a_process_that_did_not_ask_for_them_imports_the_sources(
    built_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The services (write and read API, live projector) do not ask: only a rebuild does.
    write_manifest(built_in, compiled._manifest(SOURCES))
    monkeypatch.setattr(compiled, "_wanted", False)
    assert compiled.prefer_compiled("projections", ["/src/p"]) == ["/src/p"]
