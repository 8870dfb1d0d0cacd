"""Integration: the real Snakemake workflow on the demo domains and on real Amazon data."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, job_counts, run_snakemake

from recg.report import COLUMNS

pytestmark = pytest.mark.integration


def write_config(workdir: Path, config: dict) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def demo_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def jobs_planned(workdir: Path, config: Path) -> dict[str, int]:
    """Jobs a dry run would execute, per rule."""
    return job_counts(
        run_snakemake(workdir, "-n", "--quiet", "rules", "--configfile", str(config)).stdout
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    config = write_config(workdir, demo_config())
    run_snakemake(workdir, "--cores", "2", "--configfile", str(config))
    return workdir, config


def test_demo_produces_tidy_metrics_with_both_protocols(demo_run):
    workdir, _ = demo_run
    metrics = pd.read_csv(workdir / "results/tables/metrics.csv")
    assert list(metrics.columns) == COLUMNS
    assert set(metrics["protocol"]) == {"full", "uni100"}
    config = demo_config()
    pairs = {(s, t) for s in config["sources"] for t in config["targets"]}
    got = set(zip(metrics["source"], metrics["target"], strict=True))
    assert pairs <= got
    for name in ("zero_shot.md", "in_domain.md", "significance.csv"):
        assert (workdir / "results/tables" / name).stat().st_size > 0


def r_at_10(metrics: pd.DataFrame, protocol: str) -> pd.DataFrame:
    return metrics[
        (metrics.metric == "recall") & (metrics.k == 10) & (metrics.protocol == protocol)
    ]


def test_demo_models_learn_and_transfer(demo_run):
    workdir, _ = demo_run
    metrics = pd.read_csv(workdir / "results/tables/metrics.csv")
    for protocol in ("full", "uni100"):
        r10 = r_at_10(metrics, protocol)
        pop = r10[r10.model == "pop"].set_index("target")["value"]
        gru = r10[(r10.model == "gru4rec") & (r10.source == r10.target)].set_index("target")[
            "value"
        ]
        assert (gru > pop.loc[gru.index]).all(), (
            f"GRU4Rec does not beat popularity in-domain ({protocol})"
        )
    zero_shot = r_at_10(metrics, "uni100")
    zero_shot = zero_shot[(zero_shot.model == "gru4rec") & (zero_shot.source != zero_shot.target)]
    assert len(zero_shot) and (zero_shot["value"] > 10 / 101).all()


def test_demo_rerun_has_nothing_to_do(demo_run):
    workdir, config = demo_run
    out = run_snakemake(workdir, "-n", "--configfile", str(config)).stdout
    assert "Nothing to be done" in out


def test_changing_evaluation_setting_reruns_only_evaluation(demo_run, tmp_path):
    workdir, _ = demo_run
    config = demo_config()
    config["evaluation"]["ks"] = [1, 10]
    changed = write_config(tmp_path, config)
    jobs = jobs_planned(workdir, changed)
    assert {"evaluate", "evaluate_popularity", "aggregate"} <= set(jobs)
    assert not {"preprocess", "embed", "train", "demo_domain", "negatives"} & set(jobs)


def test_changing_a_recg_setting_leaves_sem_models_alone(demo_run, tmp_path):
    workdir, _ = demo_run
    config = demo_config()
    config["recg"]["alpha"] = 0.01
    jobs = jobs_planned(workdir, write_config(tmp_path, config))
    recg_models = len(config["sources"]) * len(config["models"]) * config["variants"].count("recg")
    assert jobs.get("train") == recg_models
    assert not {"preprocess", "embed", "negatives", "evaluate_popularity"} & set(jobs)


def test_training_is_reproducible(demo_run, tmp_path):
    workdir, config = demo_run
    model_dir = next((workdir / "results/models/Gear/gru4rec-sem").glob("*/seed1"))
    target = str((model_dir / "model.pt").relative_to(workdir))
    metric = workdir / f"results/metrics/Gear/Books/gru4rec-sem/{model_dir.parent.name}/seed1.json"
    before = json.loads(metric.read_text())["metrics"]
    weights = hashlib.sha256((workdir / target).read_bytes()).hexdigest()
    run_snakemake(workdir, "--cores", "2", "--configfile", str(config), "--forcerun", target)
    assert hashlib.sha256((workdir / target).read_bytes()).hexdigest() == weights
    assert json.loads(metric.read_text())["metrics"] == before


def test_html_report(demo_run):
    workdir, config = demo_run
    run_snakemake(workdir, "--configfile", str(config), "--report", "report.html")
    html = (workdir / "report.html").read_text(errors="replace")
    assert "zero_shot" in html and len(html) > 10_000
    for name in ("in_domain.png", "data_stats.md", "gains.md", "gru4rec.png", "job_costs.md"):
        assert name in html, name


def test_demo_writes_figures_and_tables(demo_run):
    workdir, _ = demo_run
    tables = workdir / "results/tables"
    for name in ("data_stats.md", "gains.md", "ablation.md", "sweep.md"):
        assert (tables / name).stat().st_size > 0
    assert "| Gear" in (tables / "data_stats.md").read_text()
    figures = (
        "zero_shot.png",
        "in_domain.png",
        "training/Gear/sasrec.png",
        "embedding_map/Gear/gru4rec.png",
    )
    for path in figures:
        assert (workdir / "results/plots" / path).read_bytes()[:4] == b"\x89PNG"


# ----------------------------------------------------------------------------------- bad input


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bad_domain_config(workdir: Path, reviews: list[str], meta: list[str], **preprocess) -> Path:
    raw = workdir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, lines in (("Bad.jsonl.gz", reviews), ("meta_Bad.jsonl.gz", meta)):
        with gzip.open(raw / name, "wt") as handle:
            handle.write("".join(line + "\n" for line in lines))
    config = {
        "domains": {"Bad": {"reviews": "raw/Bad.jsonl.gz", "meta": "raw/meta_Bad.jsonl.gz"}},
        "sources": ["Bad"],
        "targets": ["Bad"],
        "preprocess": preprocess,
    }
    return write_config(workdir, config)


def review_lines(n_users: int = 6, n_items: int = 6) -> list[str]:
    return [
        json.dumps({"user_id": f"u{u}", "parent_asin": f"I{i}", "timestamp": 1000 * i})
        for u in range(n_users)
        for i in range(n_items)
    ]


def meta_lines(n_items: int = 6) -> list[str]:
    return [json.dumps({"parent_asin": f"I{i}", "title": f"thing {i}"}) for i in range(n_items)]


def assert_failed_cleanly(result, workdir: Path, *messages: str) -> None:
    assert result.returncode != 0
    text = result.stdout + result.stderr
    for message in messages:
        assert message in text, text[-3000:]
    assert not (workdir / "results/data/Bad/items.parquet").exists()
    assert not (workdir / "results/data/Bad/sequences.parquet").exists()
    leftovers = (
        [p for p in (workdir / "results").rglob("*") if p.is_file()]
        if (workdir / "results").exists()
        else []
    )
    assert leftovers == []


def test_malformed_json_fails_with_file_and_line(tmp_path):
    lines = review_lines()
    lines[7] = '{"user_id": "u1", "parent_asin": '
    config = bad_domain_config(tmp_path, lines, meta_lines())
    before = digest(tmp_path / "raw/Bad.jsonl.gz")
    result = run_snakemake(tmp_path, "--cores", "1", "--configfile", str(config), check=False)
    assert_failed_cleanly(result, tmp_path, "raw/Bad.jsonl.gz:8: malformed JSON")
    assert digest(tmp_path / "raw/Bad.jsonl.gz") == before


def test_missing_field_and_truncated_gzip_fail_clearly(tmp_path):
    lines = review_lines()
    lines[3] = json.dumps({"user_id": "u0", "timestamp": 5})
    config = bad_domain_config(tmp_path, lines, meta_lines())
    result = run_snakemake(tmp_path, "--cores", "1", "--configfile", str(config), check=False)
    assert_failed_cleanly(
        result, tmp_path, "raw/Bad.jsonl.gz:4: missing required field 'parent_asin'"
    )

    raw = tmp_path / "raw/Bad.jsonl.gz"
    data = raw.read_bytes()
    raw.write_bytes(data[: len(data) // 2])
    result = run_snakemake(tmp_path, "--cores", "1", "--configfile", str(config), check=False)
    assert_failed_cleanly(result, tmp_path, "truncated or corrupt")


def test_empty_domain_names_domain_and_filter(tmp_path):
    config = bad_domain_config(tmp_path, review_lines(), meta_lines(), kcore=20)
    result = run_snakemake(tmp_path, "--cores", "1", "--configfile", str(config), check=False)
    assert_failed_cleanly(
        result, tmp_path, "domain 'Bad': no interactions left after filter 'kcore'"
    )


def test_config_naming_a_missing_file_fails_before_any_job(tmp_path):
    config = {
        "domains": {"X": {"reviews": "nowhere/X.jsonl.gz", "meta": "nowhere/meta_X.jsonl.gz"}},
        "sources": ["X"],
        "targets": ["X"],
    }
    path = write_config(tmp_path, config)
    result = run_snakemake(tmp_path, "-n", "--configfile", str(path), check=False)
    assert result.returncode != 0
    assert (
        "config key 'domains.X.reviews': file not found: nowhere/X.jsonl.gz"
        in result.stdout + result.stderr
    )


def test_unknown_config_key_fails_at_once(tmp_path):
    config = demo_config()
    config["train"]["epoch"] = 3
    path = write_config(tmp_path, config)
    result = run_snakemake(tmp_path, "-n", "--configfile", str(path), check=False)
    assert result.returncode != 0
    assert "unknown key 'epoch' under 'train'" in result.stdout + result.stderr


# ----------------------------------------------------------------------------------- real data


def test_real_scientific_to_office_zero_shot_beats_random(amazon, tmp_path):
    data = tmp_path / "amazon"
    data.mkdir()
    checksums = {}
    for name in ("Scientific", "Office"):
        for prefix in ("", "meta_"):
            source = amazon / f"{prefix}{name}.jsonl.gz"
            checksums[source] = digest(source)
            (data / source.name).symlink_to(source)
    config = {
        "domains": {
            name: {"reviews": f"amazon/{name}.jsonl.gz", "meta": f"amazon/meta_{name}.jsonl.gz"}
            for name in ("Scientific", "Office")
        },
        "sources": ["Scientific"],
        "targets": ["Scientific", "Office"],
        "encoder": {"max_length": 128},
        "train": {"epochs": 8, "patience": 3},
    }
    path = write_config(tmp_path, config)
    run_snakemake(tmp_path, "--cores", "2", "--configfile", str(path), timeout=3000)
    metrics = pd.read_csv(tmp_path / "results/tables/metrics.csv")
    r10 = r_at_10(metrics, "uni100").set_index(["source", "target", "model"])["value"]
    assert r10[("Scientific", "Office", "gru4rec")] > 10 / 101
    assert r10[("Scientific", "Scientific", "gru4rec")] > 10 / 101
    stats = json.loads((tmp_path / "results/data/Office/stats.json").read_text())
    assert stats["users"] > 1000 and stats["sequence_length"]["min"] >= 5
    assert {p: digest(p) for p in checksums} == checksums
    shutil.rmtree(tmp_path / "results/embeddings")


# ----------------------------------------------------------------------------------- sweeps


def tiny_sweep_config(alphas: list[float], **extra) -> dict:
    config = demo_config()
    config.update(
        {
            "domains": {"Gear": {"demo": True}, "Books": {"demo": True}},
            "sources": ["Gear"],
            "targets": ["Gear", "Books"],
            "models": ["gru4rec"],
            "variants": ["sem", "recg"],
            "seeds": [1],
            "demo": {"users": 80, "seed": 1},
            "sweep": {"recg.alpha": alphas},
        }
    )
    config["train"].update({"epochs": 2, "patience": 1})
    config["recg"]["pattern_epochs"] = 1
    config["evaluation"]["negatives"] = 10  # the tiny domains have few items
    config.update(extra)
    return config


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    """A finished two-value sweep run from a copy of the workflow (so its code can be edited)."""
    root = tmp_path_factory.mktemp("sweep")
    repo = root / "repo"
    repo.mkdir()
    for part in ("Snakefile", "workflow", "src", "profiles", "config", "envs"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / part)
    workdir = root / "run"
    config = write_config(workdir, tiny_sweep_config([0.01, 0.001]))
    run_snakemake(
        workdir, "--cores", "2", "--configfile", str(config), snakefile=repo / "Snakefile"
    )
    return repo, workdir


def planned(sweep_run, config: dict, tmp_path: Path) -> dict[str, int]:
    repo, workdir = sweep_run
    path = write_config(tmp_path, config)
    out = run_snakemake(
        workdir, "-n", "--quiet", "rules", "--configfile", str(path), snakefile=repo / "Snakefile"
    ).stdout
    return job_counts(out)


def test_shipped_alpha_sweep_plans_one_model_per_value_backbone_and_seed(tmp_path):
    overlay = REPO / "config/experiments/demo-alpha-sweep.yaml"
    sweep = yaml.safe_load(overlay.read_text())
    out = run_snakemake(
        tmp_path,
        "-n",
        "--quiet",
        "rules",
        "--configfile",
        str(REPO / "config/config.yaml"),
        str(overlay),
    ).stdout
    jobs = job_counts(out)
    sources = len(demo_config()["sources"])
    models, seeds = len(sweep["models"]), len(sweep["seeds"])
    alphas = len(sweep["sweep"]["recg.alpha"])
    assert jobs["train"] == sources * models * seeds * (alphas + 1)
    assert jobs["sensitivity"] == 1


def test_sweep_results_sit_side_by_side(sweep_run):
    _, workdir = sweep_run
    metrics = pd.read_csv(workdir / "results/tables/metrics.csv")
    assert "recg.alpha" in metrics.columns
    recg = metrics[metrics.variant == "recg"]
    assert set(recg["recg.alpha"]) == {0.01, 0.001}
    assert metrics[metrics.variant == "sem"]["recg.alpha"].isna().all()
    assert recg.groupby("recg.alpha")["settings"].nunique().eq(1).all()
    assert recg["settings"].nunique() == 2
    assert (workdir / "results/plots/sensitivity/recg.alpha.png").exists()


def test_adding_a_sweep_value_trains_only_its_models(sweep_run, tmp_path):
    jobs = planned(sweep_run, tiny_sweep_config([0.01, 0.001, 0.0001]), tmp_path)
    assert jobs["train"] == 1
    assert jobs["evaluate"] == 2
    assert not {"preprocess", "embed", "negatives", "evaluate_popularity"} & set(jobs)


def test_an_ablation_study_coexists_with_the_main_grid(sweep_run, tmp_path):
    study = {"ablation": {"variants": ["sem", "recg", "recg-no-sg"], "sweep": {}}}
    jobs = planned(sweep_run, tiny_sweep_config([0.01, 0.001], studies=study), tmp_path)
    assert jobs["train"] == 1  # recg-no-sg; sem and recg at the configured alpha exist already
    assert jobs["evaluate"] == 2


@contextlib.contextmanager
def edited(path: Path):
    """`path` edited (a line appended), then restored with its old content and time."""
    text, before = path.read_text(), path.stat().st_mtime
    path.write_text(text + "\n# edited\n")
    try:
        yield
    finally:
        path.write_text(text)
        os.utime(path, (before, before))


def test_editing_evaluation_code_reruns_only_evaluation(sweep_run, tmp_path):
    repo, _ = sweep_run
    with edited(repo / "src/recg/evaluate.py"):
        jobs = planned(sweep_run, tiny_sweep_config([0.01, 0.001]), tmp_path)
    assert set(jobs) <= {
        "evaluate",
        "evaluate_popularity",
        "aggregate",
        "job_costs",
        "sensitivity",
        "all",
    }
    assert jobs["evaluate"] == 6


def test_editing_a_backbone_reruns_only_its_jobs(sweep_run, tmp_path):
    repo, _ = sweep_run
    config = tiny_sweep_config([0.01, 0.001], models=["gru4rec", "sasrec"])
    before = planned(sweep_run, config, tmp_path)
    with edited(repo / "src/recg/models/gru4rec.py"):
        after = planned(sweep_run, config, tmp_path)
    assert before["train"] == 3  # the sasrec models are new
    assert after["train"] == 6  # and every gru4rec model now reruns, nothing else
    assert not {"preprocess", "embed", "negatives"} & set(after)


def test_planning_imports_no_heavy_module(tmp_path):
    """Building the DAG adds neither torch, scikit-learn nor matplotlib (pandas comes with
    Snakemake's own command line, so the check is on what the workflow adds to it)."""
    seen = tmp_path / "modules.txt"
    probe = (
        "import atexit, sys\n"
        "from snakemake.cli import main\n"
        "before = set(sys.modules)\n"
        f"atexit.register(lambda: open({str(seen)!r}, 'w').write("
        "'\\n'.join(set(sys.modules) - before)))\n"
        "main()\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", probe, "-s", str(REPO / "Snakefile"), "-n"]
    cmd += ["--directory", str(tmp_path), "--configfile", str(REPO / "config/config.yaml")]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    added = {name.split(".")[0] for name in seen.read_text().split()}
    assert "recg" in added
    assert not {"torch", "pandas", "sklearn", "matplotlib", "scipy"} & added


def test_demo_records_what_each_heavy_job_cost(demo_run, tmp_path):
    workdir, config = demo_run
    costs = pd.read_csv(workdir / "results/tables/job_costs.csv").set_index("rule")
    planned = jobs_planned(tmp_path, config)
    for rule in ("embed", "train", "evaluate"):
        assert costs.loc[rule, "jobs"] == costs.loc[rule, "recorded"] == planned[rule]
        assert 0 < costs.loc[rule, "median_s"] <= costs.loc[rule, "max_s"]
    assert costs.loc["train", "max_rss_mib"] > 0
    assert (workdir / "results/benchmarks/train").is_dir()
