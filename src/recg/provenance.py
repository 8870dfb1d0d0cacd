"""What produced an output: versions, code revision and the settings that matter."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import recg

_PACKAGES = ("torch", "numpy", "pandas", "pyarrow", "snakemake", "scikit-learn")


def package_versions(extra: tuple[str, ...] = (), core: bool = True) -> dict[str, str]:
    """Versions of `extra` packages, plus python, recg and the core stack when `core`."""
    versions = {"python": platform.python_version(), "recg": recg.__version__} if core else {}
    for name in (*(_PACKAGES if core else ()), *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> str | None:
    """The commit of the recg checkout, with '-dirty' if it has uncommitted changes."""
    root = Path(recg.__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}-dirty" if dirty else rev


def settings_hash(settings: Any) -> str:
    """A short stable hash of JSON-serialisable settings."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def provenance(settings: Any, extra_packages: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "settings": settings,
        "settings_hash": settings_hash(settings),
        "versions": package_versions(extra_packages),
        "git_revision": git_revision(),
    }
