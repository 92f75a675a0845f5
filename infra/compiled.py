"""The rebuild's hottest modules, compiled with mypyc where this environment has built them.

A rebuild spends nine tenths of a core in Python: decoding events, the activity log's rows, the
task list's fold, the arrays its statements send. mypyc compiles those modules, as they are
(their `mypy --strict` annotations are what it compiles from), to C extensions: ~10-14% less
CPU for a whole rebuild (docs/decisions.md, 95).

`make install` runs `python -m infra.compiled`, which builds them into the virtualenv
(`<venv>/perpetua-compiled`) with a manifest: the interpreter, and the digest of every source of
ours they were compiled from (theirs, and those of the modules they import, whose types the
compiled code relies on). A process that asks for them (`use_compiled()`, before it imports
`projections` or `projectors`: `perpetua projections rebuild`, and the test suite, which so runs
them) finds them first on those packages' `__path__`, and only while the manifest still holds:
after an edit of any of those sources, or in an environment that never built them, the modules
are imported from their sources as ever. So a compiled module never runs beside our code in a
state it was not compiled against, and the service does not depend on the compiler. The
libraries' versions are in the manifest too, but checked only by the next `make install` (which
then compiles again): reading them would cost every process tens of milliseconds of imports.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

# Dotted names; each is compiled from its source file, all in one group (one shared library).
MODULES = (
    "projectors.event_decoding",
    "projectors.rebuild",
    "projections.binary_arrays",
    "projections.activity",
    "projections.task_fold",
)
GROUP = "perpetua_compiled"
# Beside the interpreter that built them: another virtualenv, another Python, never sees them.
BUILT = Path(sys.prefix) / "perpetua-compiled"
MANIFEST = "manifest.json"
# The libraries whose types the compiled modules rely on, and the compiler.
LIBRARIES = ("eventsourcing", "psycopg", "mypy")
ROOT = Path(__file__).resolve().parent.parent


# Whether this process asked for the compiled modules. Only the rebuild does: the services
# (write and read API, live projector) run the sources, as measured for their latency targets.
_wanted = False


def use_compiled() -> None:
    """Have `projections` and `projectors` take the compiled modules where they are up to
    date: to be called before anything imports those packages (afterwards, it changes nothing)."""
    global _wanted
    _wanted = True


def prefer_compiled(package: str, path: list[str]) -> list[str]:
    """The `__path__` for `package`: the compiled modules' directory first when this process
    asked for them and they were built from the sources as they are now, else `path`."""
    if not (_wanted and _built_from_these_sources()):
        return path
    if str(BUILT) not in sys.path:
        sys.path.append(str(BUILT))  # the group's shared library is a top-level module
    return [str(BUILT / package), *path]


@cache
def _built_from_these_sources() -> bool:
    recorded = _recorded()
    return recorded is not None and _manifest(recorded["sources"]) == {
        key: recorded.get(key) for key in ("python", "modules", "sources")
    }


def _recorded() -> dict[str, Any] | None:
    try:
        recorded = json.loads((BUILT / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("sources"), dict):
        return None
    return recorded


def _manifest(sources: Iterable[str]) -> dict[str, Any]:
    """What compiled modules must match at run time: `sources` are paths relative to ROOT."""
    return {
        "python": sys.implementation.cache_tag,
        "modules": list(MODULES),
        "sources": {source: _digest(ROOT / source) for source in sorted(sources)},
    }


def _libraries() -> dict[str, str]:
    from importlib import metadata

    def version(distribution: str) -> str:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return ""

    return {name: version(name) for name in LIBRARIES}


def _source(module: str) -> str:
    return str(Path(*module.split(".")).with_suffix(".py"))


def _our_source(module: ModuleType) -> str | None:
    """A loaded module's source, relative to ROOT, if it is one of ours."""
    file = getattr(module, "__file__", None)
    if not file or not file.endswith(".py"):
        return None
    path = Path(file).resolve()
    if not path.is_relative_to(ROOT) or path.is_relative_to(Path(sys.prefix).resolve()):
        return None
    return str(path.relative_to(ROOT))


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def build() -> None:
    """Compile MODULES into BUILT (replacing what is there), unless already built from these
    sources against these libraries."""
    import contextlib
    import importlib
    import shutil
    import tempfile

    recorded = _recorded()
    if recorded and _built_from_these_sources() and recorded.get("libraries") == _libraries():
        print(f"compiled modules up to date in {BUILT}")
        return
    # The sources compiled, and every module of ours they import: imported here from their
    # sources (this process never asks for the compiled ones, see `use_compiled`).
    for module in MODULES:
        importlib.import_module(module)
    sources = {_source(module) for module in MODULES}
    sources.update(filter(None, map(_our_source, list(sys.modules.values()))))
    # Imported here: only a build needs mypyc and setuptools.
    from mypyc.build import mypycify
    from setuptools import setup

    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(ROOT):
        staging = Path(scratch) / "lib"
        extensions = mypycify(
            [_source(module) for module in MODULES],
            group_name=GROUP,
            target_dir=str(Path(scratch) / "c"),
        )
        setup(
            name=GROUP,
            ext_modules=extensions,
            script_args=[
                "--quiet", "build_ext", "--build-lib", str(staging),
                "--build-temp", str(Path(scratch) / "temp"),
            ],
        )  # fmt: skip
        manifest = {**_manifest(sources), "libraries": _libraries()}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(BUILT, ignore_errors=True)
        shutil.copytree(staging, BUILT)
    print(f"compiled {', '.join(MODULES)} into {BUILT}")


if __name__ == "__main__":
    build()
