"""How long Snakemake takes to plan (`snakemake -n`): the paper grid, and a finished run.

(a) The paper grid: 4 sources (each also a target) x 3 backbones x 5 seeds x (-Sem, the two
    training-free baselines, -RecG over a 6-value `sweep: {recg.alpha: [...]}`, and -RecG's 4
    ablations at the configured alpha, an `ablation` study): about 4,700 jobs with the bias
    diagnostics of every model. The domains point at placeholder review files (planning never
    reads them). Target: under 10 s.
(b) A finished run: the demo (two tiny domains, 2 epochs) is run once in a temporary folder, then
    planned again, when there is nothing left to do. Target: under 3 s.

Each time is the wall time of the whole `snakemake -n` command, start-up included, as a user
sees it; its CPU time is recorded beside it (the better figure on a busy machine). `--profile` adds the 25 costliest functions of planning (a) by cumulative time.

    python bench/workflow_bench.py [--skip-run] [--profile]
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from harness import REPO, Bench

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SOURCES = ["Scientific", "Instruments", "Office", "Games"]
VARIANTS = ["sem", "sem-center", "sem-whiten", "recg"]
ABLATIONS = ["recg-no-id", "recg-no-ic", "recg-no-ig", "recg-no-sg"]
ALPHAS = [0.05, 0.01, 0.005, 0.001, 0.0005, 0.0001]


def demo_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def paper_grid(folder: Path) -> Path:
    """The paper grid's config, over placeholder review files of distinct content."""
    domains = {}
    for name in SOURCES:
        paths = {"reviews": folder / f"{name}.jsonl.gz", "meta": folder / f"meta_{name}.jsonl.gz"}
        for role, path in paths.items():
            with gzip.open(path, "wt") as handle:
                handle.write(f'{{"placeholder": "{role} of {name}"}}\n')
        domains[name] = {k: str(v) for k, v in paths.items()}
    config = demo_config() | {
        "domains": domains,
        "sources": SOURCES,
        "targets": SOURCES,
        "models": ["gru4rec", "sasrec", "bert4rec"],
        "variants": VARIANTS,
        "seeds": [1, 2, 3, 4, 5],
        "sweep": {"recg.alpha": ALPHAS},
        "studies": {"ablation": {"variants": ABLATIONS, "sweep": {}}},
    }
    path = folder / "paper-grid.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def tiny_demo(folder: Path) -> Path:
    """The demo on two tiny domains (at 80 users a third, Courses, empties in the 5-core)."""
    config = demo_config()
    config |= {"domains": {"Gear": {"demo": True}, "Books": {"demo": True}}}
    config |= {"sources": ["Gear", "Books"], "targets": ["Gear", "Books"]}
    config["demo"]["users"] = 80
    config["train"].update({"epochs": 2, "patience": 1})
    config["recg"]["pattern_epochs"] = 1
    config["evaluation"]["negatives"] = 10  # the tiny domains have few items
    path = folder / "tiny-demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, config: Path, *args: str, prefix: tuple[str, ...] = ()) -> str:
    cmd = [*prefix, str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    cmd += ["--workflow-profile", str(REPO / "profiles" / "default")]
    cmd += ["--configfile", str(config), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return out.stdout + out.stderr


def planned_jobs(output: str) -> int:
    """The total of the 'Job stats' table (0 when there is nothing to be done)."""
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            return int(parts[1])
    return 0


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_plan(workdir: Path, config: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of one `snakemake -n`, and the jobs it plans."""
    cpu, start = children_cpu_s(), time.perf_counter()
    out = snakemake(workdir, config, "-n", "--quiet", "rules")
    return time.perf_counter() - start, children_cpu_s() - cpu, planned_jobs(out)


def profile(workdir: Path, config: Path, folder: Path) -> list[str]:
    """The costliest functions of planning, by cumulative time."""
    import pstats

    stats = folder / "plan.prof"
    prefix = (sys.executable, "-m", "cProfile", "-o", str(stats))
    snakemake(workdir, config, "-n", "--quiet", "rules", prefix=prefix)
    report = folder / "plan.txt"
    with report.open("w") as handle:
        pstats.Stats(str(stats), stream=handle).sort_stats("cumulative").print_stats(25)
    return report.read_text().splitlines()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-run", action="store_true", help="only (a): no demo run")
    parser.add_argument("--profile", action="store_true", help="profile planning (a)")
    args = parser.parse_args()
    bench = Bench(
        "workflow",
        {"paper_grid": {"sources": SOURCES, "variants": VARIANTS, "ablations": ABLATIONS}},
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        grid = paper_grid(folder)
        seconds, cpu, jobs = timed_plan(folder / "grid", grid)
        bench.data["paper_grid"]["jobs"] = jobs
        bench.figure("plan_paper_grid_s", seconds, "s", "< 10", note=f"{jobs} jobs")
        bench.figure("plan_paper_grid_cpu_s", cpu, "s")
        if args.profile:
            bench.details["paper_grid_profile"] = profile(folder / "grid", grid, folder)
            print("\n".join(bench.details["paper_grid_profile"]))
        if not args.skip_run:
            demo, workdir = tiny_demo(folder), folder / "demo"
            start = time.perf_counter()
            snakemake(workdir, demo, "--cores", "all")
            bench.figure("tiny_demo_run_s", time.perf_counter() - start, "s")
            seconds, cpu, jobs = timed_plan(workdir, demo)
            if jobs:
                raise SystemExit(f"a finished demo run still plans {jobs} jobs")
            bench.figure("plan_finished_demo_s", seconds, "s", "< 3")
            bench.figure("plan_finished_demo_cpu_s", cpu, "s")
    bench.write()


if __name__ == "__main__":
    main()
