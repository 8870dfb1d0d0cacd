"""Helpers for the SLURM integration tests: run the workflow, drive the local cluster, read sacct."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import job_counts

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLUSTER_SCRIPT = REPO / "scripts" / "slurm-local.sh"
CANNOT_INSTALL = 3  # exit code of slurm-local.sh when SLURM cannot be installed here


def offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def reduced_config() -> dict[str, Any]:
    """The smallest grid that still crosses domains: train on Gear, evaluate on Gear and Books."""
    return {
        "domains": {"Gear": {"demo": True}, "Books": {"demo": True}},
        "sources": ["Gear"],
        "targets": ["Gear", "Books"],
        "models": ["gru4rec"],
        "variants": ["sem"],
        "seeds": [1],
        "demo": {"users": 200},
        "train": {"epochs": 5},
    }


def write_config(workdir: Path, config: dict[str, Any]) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_cmd(workdir: Path, *args: str, limit: int) -> list[str]:
    """The workflow in `workdir`, under `timeout -k`: a snakemake waiting on SLURM ignores SIGTERM."""
    return [
        "timeout",
        "-k",
        "30",
        str(limit),
        str(BIN / "snakemake"),
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--workflow-profile",
        str(REPO / "profiles" / "default"),
        *args,
    ]


@dataclass
class Run:
    """One finished snakemake call."""

    returncode: int
    output: str
    seconds: float


class Background:
    """A snakemake call running while the test does something else."""

    def __init__(self, workdir: Path, *args: str, limit: int = 600) -> None:
        self.limit = limit
        self.start = time.monotonic()
        # Output to a file, not a pipe: nobody reads a pipe while the test does other things,
        # and a full pipe would block snakemake.
        self.log = workdir.parent / f"{workdir.name}-snakemake-{time.time_ns()}.out"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                snakemake_cmd(workdir, *args, limit=limit),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=offline_env(),
                start_new_session=True,  # its own process group, for kill()
            )

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Kill timeout, snakemake and its children (not the SLURM jobs: SLURM owns those)."""
        if self.running():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def wait(self, check: bool = True) -> Run:
        try:
            self.proc.wait(timeout=self.limit + 60)
        finally:
            self.kill()
        output = self.log.read_text(errors="replace")
        run = Run(self.proc.returncode, output, time.monotonic() - self.start)
        if check and run.returncode != 0:
            raise AssertionError(f"snakemake failed ({run.returncode}):\n{run.output[-8000:]}")
        return run


def run_snakemake(workdir: Path, *args: str, limit: int = 600, check: bool = True) -> Run:
    return Background(workdir, *args, limit=limit).wait(check=check)


def profile(name: str) -> list[str]:
    return ["--profile", str(REPO / "profiles" / name)]


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Jobs a dry run would execute, per rule."""
    return job_counts(run_snakemake(workdir, "-n", "--quiet", "rules", *args, limit=300).output)


def file_mtimes(workdir: Path) -> dict[str, int]:
    """Modification times of every workflow output, to tell reused files from remade ones."""
    return {
        str(path.relative_to(workdir)): path.stat().st_mtime_ns
        for top in ("data", "results")
        for path in (workdir / top).rglob("*")
        if path.is_file()
    }


# --- the local cluster -------------------------------------------------------------------------


def cluster(command: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def start_cluster() -> float:
    """Start the local cluster; skip when SLURM cannot be installed here, fail in CI. Seconds."""
    start = time.monotonic()
    proc = cluster("start")
    if proc.returncode == CANNOT_INSTALL:
        reason = "SLURM cannot be installed on this machine: " + proc.stdout.strip()[-500:]
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: a skip would hide a broken cluster test)")
        pytest.skip(reason)
    if proc.returncode != 0:
        pytest.fail(f"scripts/slurm-local.sh start failed ({proc.returncode}):\n{proc.stdout}")
    return time.monotonic() - start


@dataclass
class SlurmJob:
    """One SLURM job from sacct."""

    job_id: str
    name: str
    comment: str
    state: str
    req_mem: str
    cpus: int

    @property
    def rule(self) -> str:
        """The rule a job ran: from the slurm plugin's comment, or cluster-generic's job name."""
        match = re.match(r"rule_(.+?)(?:_wildcards_.*)?$", self.comment)
        if match:
            return match.group(1)
        return self.name.removeprefix("smk-")


def sacct_jobs(workdir: Path, since: str) -> list[SlurmJob]:
    """Jobs SLURM accounted for since `since` (ISO time) whose working directory is `workdir`."""
    fields = "JobID,JobName%60,Comment%120,State,ReqMem,AllocCPUS,WorkDir%400"
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", since, "-o", fields],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    jobs = []
    for line in out.splitlines():
        job_id, name, comment, state, mem, cpus, cwd = line.split("|")
        if Path(cwd) == workdir:
            jobs.append(SlurmJob(job_id, name, comment, state, mem, int(cpus)))
    return jobs


def now_iso() -> str:
    """Now, one second back, as sacct's --starttime wants it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 1))


def running_job(rule: str) -> str | None:
    """Id of a RUNNING slurm-plugin job of `rule`, if any."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    for line in out.splitlines():
        job_id, _, comment = line.partition("|")
        if comment.startswith(f"rule_{rule}_"):
            return job_id
    return None
