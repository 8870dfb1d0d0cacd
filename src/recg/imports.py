"""The package modules a script really imports, read from the source (nothing is imported).

A job's `code` param is a digest of these files, so editing evaluation code reruns evaluation
jobs only.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _module_file(name: str, package: Path) -> Path | None:
    parts = name.split(".")
    if parts[0] != "recg":
        return None
    base = package.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(path: str | Path) -> frozenset[str]:
    """Module names `path` imports itself (and the names it imports from them)."""
    return _imported(Path(path))


@cache
def _imported(path: Path) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(names)


@cache
def package_files(script: str | Path, package: str | Path = PACKAGE) -> tuple[str, ...]:
    """Sorted files of every recg module `script` imports, directly or through other modules.

    `package` is the recg source folder the files are named in (default: this one).

    Imports under `if TYPE_CHECKING:` count too: they are few and keep the rule conservative.
    """
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        for name in _imported(todo.pop()):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                found = _module_file(".".join(parts[:i]), Path(package))
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return tuple(sorted(str(p) for p in seen))


def files_digest(files: Iterable[str], root: str | Path = PACKAGE) -> str:
    """A digest of the files' content and names relative to `root`.

    As a job's param it reruns the job when one of them changes, like code inputs would, but
    content decides, not modification times (a checkout or a copy of the repository reruns
    nothing), and planning has no extra input files to look up per job.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        path = Path(name)
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]
