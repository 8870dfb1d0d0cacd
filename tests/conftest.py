"""Shared test fixtures: the repository, the real Amazon data beside it, and a workflow runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def shared_data() -> Path:
    return Path(os.environ.get("RECG_SHARED_DATA", REPO.parent / "shared" / "data"))


def require(path: Path, why: str) -> Path:
    """Skip when an optional resource is absent (a user's clone); in CI its absence is a failure."""
    if not path.exists():
        message = f"{why}: {path} not found"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def amazon() -> Path:
    """The real Amazon data folder (Scientific, Games, Office)."""
    return require(shared_data() / "amazon", "real Amazon review data")


@pytest.fixture(scope="session")
def amazon2023_sample() -> Path:
    return require(shared_data() / "amazon2023-sample", "Amazon Reviews 2023 sample")


def snakemake_command(
    workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile"
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run the real workflow in `workdir`, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [
        str(BIN / "snakemake"),
        "-s",
        str(snakefile),
        "--directory",
        str(workdir),
        "--workflow-profile",
        str(REPO / "profiles" / "default"),
        *args,
    ]
    return cmd, env


def run_snakemake(
    workdir: Path,
    *args: str,
    timeout: int = 1800,
    check: bool = True,
    snakefile: Path = REPO / "Snakefile",
) -> subprocess.CompletedProcess:
    """Run the real workflow in `workdir` (this repository's Snakefile by default), offline."""
    cmd, env = snakemake_command(workdir, *args, snakefile=snakefile)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def only(folder: Path, pattern: str) -> Path:
    """The one file matching `pattern` (paths carry settings ids a test need not compute)."""
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"{pattern}: {found}"
    return found[0]


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Jobs per rule from the 'Job stats' table of `snakemake -n --quiet rules`."""
    jobs: dict[str, int] = {}
    started = False
    for line in dry_run_output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            started = True
        elif started and len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            jobs[parts[0]] = int(parts[1])
    return jobs
