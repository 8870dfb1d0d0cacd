"""Integration: the demo workflow on a real (local, single-node) SLURM cluster.

The cluster comes from scripts/slurm-local.sh (Debian packages, daemons started by hand, slurmdbd
accounting). The same reduced grid runs locally, through `--executor slurm` (profiles/slurm) and
through cluster-generic with sbatch (profiles/cluster-generic); the metrics must be identical.
Also checked: jobs really ran as SLURM jobs with the rules' resources, a failing rule shows its log
and is retried with twice the memory, and a rerun after a cancelled job only makes what is missing.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from slurm_helpers import (
    Background,
    Run,
    SlurmJob,
    cluster,
    file_mtimes,
    now_iso,
    planned_jobs,
    profile,
    reduced_config,
    run_snakemake,
    running_job,
    sacct_jobs,
    start_cluster,
    write_config,
)

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

REMOTE_RULES = {
    "preprocess",
    "embed",
    "negatives",
    "train",
    "evaluate",
    "diagnostics_encoder",
    "diagnostics_model",
}
LOCAL_RULES = {
    "demo_domain",
    "evaluate_popularity",
    "aggregate",
    "diagnostics_table",
    "configuration",
    "job_costs",
}
DONE_ONCE = Counter(
    preprocess=2,
    embed=2,
    negatives=2,
    train=1,
    evaluate=2,
    diagnostics_encoder=1,
    diagnostics_model=1,
)
METRICS = Path("results/tables/metrics.csv")


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[float]:
    """A running local cluster for this module; stopped afterwards unless it was already up."""
    already_up = cluster("status").returncode == 0
    seconds = start_cluster()
    print(f"\nslurm-local.sh start: {seconds:.1f} s (already up: {already_up})")
    yield seconds
    if not already_up:
        stopped = cluster("stop")
        assert stopped.returncode == 0, stopped.stdout


@dataclass
class FailingRun:
    workdir: Path
    since: str
    background: Background


@pytest.fixture(scope="module")
def failing_run(
    slurm_cluster: float, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FailingRun]:
    """A rule that fails on SLURM, retried once. Started early and left in the background: it
    mostly waits for the plugin's status polls, so it overlaps with the CPU-bound local run."""
    workdir = tmp_path_factory.mktemp("failing")
    # A real-data domain whose review file is broken on line 2.
    (workdir / "reviews.jsonl").write_text(
        '{"rating": 5.0, "user_id": "u1", "parent_asin": "i1", "timestamp": 1}\n'
        '{"rating": 4.0, "user_id": "u2", "parent_asin": "i1" "timestamp": 2}\n'
    )
    (workdir / "meta.jsonl").write_text('{"parent_asin": "i1", "title": "Item"}\n')
    write_config(
        workdir,
        {
            "domains": {"Broken": {"reviews": "reviews.jsonl", "meta": "meta.jsonl"}},
            "sources": ["Broken"],
            "targets": ["Broken"],
        },
    )
    since = now_iso()
    args = (*profile("slurm"), "--retries", "1", "--show-failed-logs")
    background = Background(workdir, *args, limit=600)
    yield FailingRun(workdir, since, background)
    background.kill()  # only if a test stopped early


@pytest.fixture(scope="module")
def local_run(failing_run: FailingRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the reduced grid on this machine (no executor plugin)."""
    workdir = tmp_path_factory.mktemp("local")
    write_config(workdir, reduced_config())
    run = run_snakemake(workdir, "--cores", "2")
    print(f"\nlocal run: {run.seconds:.1f} s (alongside the failing SLURM run)")
    return workdir


@dataclass
class ResumedRun:
    """A slurm-executor run whose train job was cancelled, and the rerun that finished it."""

    workdir: Path
    since: str
    cancelled_job: str
    interrupted: Run
    planned_after_cancel: dict[str, int]
    mtimes_after_cancel: dict[str, int]
    mtimes_after_rerun: dict[str, int]
    rerun: Run


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster: float, tmp_path_factory: pytest.TempPathFactory) -> ResumedRun:
    workdir = tmp_path_factory.mktemp("slurm")
    write_config(workdir, reduced_config())
    since = now_iso()
    # --retries 0: the profile's one retry would resubmit the cancelled job by itself.
    background = Background(workdir, *profile("slurm"), "--retries", "0", limit=900)
    job = None
    try:
        while job is None and background.running() and time.monotonic() - background.start < 600:
            job = running_job("train")
            time.sleep(0.5)
        if job is not None:
            subprocess.run(["scancel", job], check=True, timeout=60)
    except BaseException:
        background.kill()
        raise
    interrupted = background.wait(check=False)
    assert job is not None, f"no train job ever ran on SLURM:\n{interrupted.output[-6000:]}"
    planned = planned_jobs(workdir, *profile("slurm"))
    mtimes_before = file_mtimes(workdir)
    rerun = run_snakemake(workdir, *profile("slurm"), limit=900)
    print(f"\nslurm run: {interrupted.seconds:.1f} s until cancelled, rerun {rerun.seconds:.1f} s")
    return ResumedRun(
        workdir, since, job, interrupted, planned, mtimes_before, file_mtimes(workdir), rerun
    )


@pytest.fixture(scope="module")
def generic_run(slurm_cluster: float, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    workdir = tmp_path_factory.mktemp("generic")
    write_config(workdir, reduced_config())
    since = now_iso()
    run = run_snakemake(workdir, *profile("cluster-generic"), limit=900)
    print(f"\ncluster-generic run: {run.seconds:.1f} s")
    return workdir, since


def test_start_is_idempotent(slurm_cluster: float) -> None:
    before = cluster("status")
    again = cluster("start")
    assert again.returncode == 0, again.stdout
    assert "smoke test ok" in again.stdout
    assert "started" not in again.stdout, "a second start must not start daemons again"
    assert cluster("status").stdout == before.stdout


def test_slurm_executor_matches_local_run(slurm_run: ResumedRun, local_run: Path) -> None:
    expected = (local_run / METRICS).read_text()
    assert expected.count("\n") > 40
    assert (slurm_run.workdir / METRICS).read_text() == expected


def test_slurm_jobs_ran_as_slurm_jobs_with_rule_resources(slurm_run: ResumedRun) -> None:
    jobs = sacct_jobs(slurm_run.workdir, slurm_run.since)
    assert {job.rule for job in jobs} == REMOTE_RULES
    assert not LOCAL_RULES & {job.rule for job in jobs}, "localrules must not be submitted"
    done = [job for job in jobs if job.state == "COMPLETED"]
    # each remote job once, except train: once cancelled, once in the rerun
    assert Counter(job.rule for job in done) == DONE_ONCE
    by_rule = {job.rule: job for job in done}
    # the rules' threads and mem_mb (attempt 1) became the allocation
    assert (by_rule["embed"].cpus, by_rule["train"].cpus, by_rule["evaluate"].cpus) == (2, 1, 1)
    assert by_rule["train"].req_mem == "8000M"


def test_cancelled_job_fails_the_run_and_the_rerun_only_makes_what_is_missing(
    slurm_run: ResumedRun,
) -> None:
    run = slurm_run
    assert run.interrupted.returncode != 0, run.interrupted.output[-4000:]
    assert f"SLURM-job '{run.cancelled_job}' failed" in run.interrupted.output
    assert "CANCELLED" in run.interrupted.output
    cancelled = [j for j in sacct_jobs(run.workdir, run.since) if j.job_id == run.cancelled_job]
    assert [j.state.split()[0] for j in cancelled] == ["CANCELLED"]
    # train was running, so everything upstream of it had finished; what remains is train, what
    # depends on it, and at most the Books jobs that SLURM had not started yet
    planned = run.planned_after_cancel
    assert {"train": 1, "evaluate": 2, "aggregate": 1, "all": 1}.items() <= planned.items()
    assert not {"demo_domain", "preprocess"} & planned.keys()
    assert planned.get("embed", 0) <= 1 and planned.get("negatives", 0) <= 1
    kept = set(run.mtimes_after_cancel)
    assert any(p.startswith("results/embeddings/minilm/Gear/") for p in kept)
    model = re.compile(
        r"results/models/Gear/gru4rec-sem/\w+/seed1/(model\.pt|config\.json|train_log\.csv)"
    )
    assert not any(model.fullmatch(p) for p in kept)
    # the rerun ran exactly the planned jobs and left every finished file alone (a per-epoch
    # checkpoint of the cancelled train job, if it got that far, is resumed and then removed)
    rules_run = Counter(
        line.split()[-1].rstrip(":")
        for line in run.rerun.output.splitlines()
        if line.startswith(("rule ", "localrule "))
    )
    assert rules_run == Counter(planned)
    for path, mtime in run.mtimes_after_cancel.items():
        if "/checkpoint-" not in path:
            assert run.mtimes_after_rerun[path] == mtime, f"{path} was made again"


def test_cluster_generic_matches_local_run(generic_run: tuple[Path, str], local_run: Path) -> None:
    workdir, since = generic_run
    assert (workdir / METRICS).read_text() == (local_run / METRICS).read_text()
    jobs: list[SlurmJob] = sacct_jobs(workdir, since)
    assert all(job.name.startswith("smk-") for job in jobs)
    assert Counter(job.rule for job in jobs if job.state == "COMPLETED") == DONE_ONCE
    assert len(jobs) == DONE_ONCE.total()
    assert sorted(p.parent.name for p in (workdir / "logs/slurm").rglob("*.log")) == sorted(
        DONE_ONCE.elements()
    )


def test_failing_rule_shows_its_log_and_is_retried_with_more_memory(
    failing_run: FailingRun, local_run: Path
) -> None:
    run = failing_run.background.wait(check=False)
    assert run.returncode != 0
    # --show-failed-logs prints the rule's own log, which names file and line, for both attempts
    shown = re.split(r"Logfile logs/preprocess/Broken/\w+\.log:", run.output)
    assert len(shown) == 3, run.output[-6000:]
    for attempt in shown[1:]:
        assert attempt.split("\n")[2].startswith("ERROR: reviews.jsonl:2: malformed JSON")
    assert "Trying to restart job" in run.output
    jobs = sacct_jobs(failing_run.workdir, failing_run.since)
    assert [(job.rule, job.state, job.req_mem) for job in jobs] == [
        ("preprocess", "FAILED", "2000M"),
        ("preprocess", "FAILED", "4000M"),  # mem_mb scales with the attempt
    ]
