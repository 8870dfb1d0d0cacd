"""Integration: the real Snakemake workflow on the demo domains and on real Amazon data."""

from __future__ import annotations

import ast
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from conftest import REPO, job_counts, only, run_snakemake, snakemake_command

from recg.io import read_table
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
    metrics = read_table(workdir / "results/tables/metrics.csv")
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
    metrics = read_table(workdir / "results/tables/metrics.csv")
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
    metric = only(
        workdir, f"results/metrics/Gear/Books/*/gru4rec-sem/{model_dir.parent.name}/seed1.json"
    )
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
    for name in (
        "in_domain.png",
        "data_stats.html",
        "gains.html",
        "gru4rec.png",
        "diagnostics.html",
        "configuration.html",
        "job_costs.html",
    ):
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
    assert not list((workdir / "results/data").glob("Bad/*/*.parquet"))
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


# ----------------------------------------------------------------------------------- safety


def test_every_rule_runs_a_script_and_nothing_calls_a_shell():
    """Config values reach jobs as Python objects (`script:`), never through a shell command."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[REPO / "config/config.yaml"]),
            storage_settings=StorageSettings(),
            snakefile=REPO / "Snakefile",
        )._workflow
        rules = {rule.name: rule for rule in workflow.rules}
    assert {"preprocess", "train", "evaluate"} <= set(rules)
    for name, rule in rules.items():
        assert rule.shellcmd is None, f"rule {name} runs a shell command"
        assert rule.script or rule.norun, f"rule {name} has no script"
    for path in [*(REPO / "src").rglob("*.py"), *(REPO / "workflow").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                assert called not in ("os.system", "os.popen"), f"{path}: {called}"
                shell = [k for k in node.keywords if k.arg == "shell"]
                assert not shell, f"{path}:{node.lineno}: a command through a shell"


def test_paths_with_spaces_and_semicolons_are_only_data(tmp_path):
    """Input paths with shell syntax are read as files; a domain's own min_year applies to it."""
    folder = tmp_path / "raw data; touch INJECTED"
    folder.mkdir()
    old, new = 1_400_000_000_000, 1_600_000_000_000  # 2014 and 2020
    lines = [
        json.dumps({"user_id": f"u{u}", "parent_asin": f"I{i}", "timestamp": new + i})
        for u in range(6)
        for i in range(6)
    ]
    lines += [json.dumps({"user_id": "u0", "parent_asin": "I9", "timestamp": old})]
    files = {"reviews": folder / "R $(touch INJECTED).jsonl.gz", "meta": folder / "meta_R.jsonl.gz"}
    for path, rows in ((files["reviews"], lines), (files["meta"], meta_lines())):
        with gzip.open(path, "wt") as handle:
            handle.write("".join(row + "\n" for row in rows))
    before = {path: digest(path) for path in files.values()}
    domain = {role: str(path.relative_to(tmp_path)) for role, path in files.items()}
    config = write_config(
        tmp_path,
        {"domains": {"R": {**domain, "min_year": 2018}}, "sources": ["R"], "targets": ["R"]},
    )
    run_snakemake(tmp_path, "all_data", "--cores", "1", "--configfile", str(config))
    target = only(tmp_path, "results/data/R/*/stats.json")
    assert not list(tmp_path.rglob("INJECTED"))
    assert {path: digest(path) for path in files.values()} == before
    steps = {s["step"]: s for s in json.loads((tmp_path / target).read_text())["filters"]}
    assert steps["min_year"]["year"] == 2018 and steps["min_year"]["removed_interactions"] == 1


# ----------------------------------------------------------------------------------- real data


def real_workdir(workdir: Path, amazon: Path, encoder_cache: Path) -> Path:
    """A workdir whose config runs Scientific -> Office on the real data, with few epochs; the
    encoder cache lies outside it, so a second workdir can share the embedded texts."""
    data = workdir / "amazon"
    data.mkdir(parents=True)
    for name in ("Scientific", "Office"):
        for prefix in ("", "meta_"):
            (data / f"{prefix}{name}.jsonl.gz").symlink_to(amazon / f"{prefix}{name}.jsonl.gz")
    config = {
        "domains": {
            name: {"reviews": f"amazon/{name}.jsonl.gz", "meta": f"amazon/meta_{name}.jsonl.gz"}
            for name in ("Scientific", "Office")
        },
        "sources": ["Scientific"],
        "targets": ["Scientific", "Office"],
        "encoder": {"max_length": 128, "cache": str(encoder_cache)},
        "train": {"epochs": 8, "patience": 3},
    }
    return write_config(workdir, config)


@pytest.fixture(scope="module")
def real_run(amazon, tmp_path_factory):
    """The real-data workflow run once from scratch; yields (workdir, encoder cache, input
    checksums taken before the run)."""
    root = tmp_path_factory.mktemp("real")
    cache, workdir = root / "encoder-cache", root / "first"
    inputs = [amazon / f"{p}{n}.jsonl.gz" for n in ("Scientific", "Office") for p in ("", "meta_")]
    checksums = {path: digest(path) for path in inputs}
    config = real_workdir(workdir, amazon, cache)
    run_snakemake(workdir, "--cores", "2", "--configfile", str(config), timeout=3000)
    yield workdir, cache, checksums
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(workdir / "results/embeddings", ignore_errors=True)


def test_real_scientific_to_office_zero_shot_beats_random(real_run):
    workdir, _, checksums = real_run
    metrics = read_table(workdir / "results/tables/metrics.csv")
    r10 = r_at_10(metrics, "uni100").set_index(["source", "target", "model"])["value"]
    assert r10[("Scientific", "Office", "gru4rec")] > 10 / 101
    assert r10[("Scientific", "Scientific", "gru4rec")] > 10 / 101
    stats = json.loads(only(workdir, "results/data/Office/*/stats.json").read_text())
    assert stats["users"] > 1000 and stats["sequence_length"]["min"] >= 5
    assert {p: digest(p) for p in checksums} == checksums


def test_real_data_run_twice_from_scratch_gives_identical_metrics(real_run, amazon, tmp_path):
    """A second run in an empty workdir (sharing only the encoder cache, so no text is encoded
    again) writes the first run's metrics.csv byte for byte."""
    first, cache, _ = real_run
    workdir = tmp_path / "second"
    config = real_workdir(workdir, amazon, cache)
    run_snakemake(workdir, "--cores", "2", "--configfile", str(config), timeout=3000)
    embed_logs = sorted((workdir / "logs/embed").rglob("*.log"))
    assert len(embed_logs) == 2
    for log in embed_logs:
        assert " 0 distinct texts to encode" in log.read_text(), log
    metrics = "results/tables/metrics.csv"
    assert (workdir / metrics).read_bytes() == (first / metrics).read_bytes()
    shutil.rmtree(workdir / "results/embeddings")


# ----------------------------------------------------------------------------------- sweeps


def tiny_sweep_config(alphas: list[float], **extra) -> dict:
    config = demo_config()
    config.update(
        {
            "domains": {"Gear": {"demo": True}, "Books": {"demo": True}},
            "sources": ["Gear"],
            "targets": ["Gear", "Books"],
            "models": ["gru4rec"],
            "variants": ["sem", "recg", "sem-whiten"],
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
    (root / "inputs-before.json").write_text(json.dumps(input_digests(repo, workdir)))
    run_snakemake(
        workdir, "--cores", "2", "--configfile", str(config), snakefile=repo / "Snakefile"
    )
    return repo, workdir


def input_digests(repo: Path, workdir: Path) -> dict[str, str]:
    """What a run reads and must leave alone: the workflow's files and the run's config."""
    files = [p for p in repo.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return {str(p): digest(p) for p in [*files, workdir / "config.yaml"]}


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
    metrics = read_table(workdir / "results/tables/metrics.csv")
    assert "recg.alpha" in metrics.columns
    recg = metrics[metrics.variant == "recg"]
    assert set(recg["recg.alpha"]) == {0.01, 0.001}
    assert metrics[metrics.variant == "sem"]["recg.alpha"].isna().all()
    assert recg.groupby("recg.alpha")["settings"].nunique().eq(1).all()
    assert recg["settings"].nunique() == 2
    assert (workdir / "results/plots/sensitivity/recg.alpha.png").exists()


def test_a_run_writes_only_its_own_folders_and_leaves_its_inputs_alone(sweep_run):
    repo, workdir = sweep_run
    written = {p.name for p in workdir.iterdir()} - {"config.yaml"}
    assert written <= {"results", "logs", "resources", ".snakemake", "data"}, written
    assert {p.name for p in (workdir / "data").iterdir()} == {"demo"}
    before = json.loads((repo.parent / "inputs-before.json").read_text())
    assert input_digests(repo, workdir) == before
    assert {p.name for p in repo.parent.iterdir()} == {"repo", "run", "inputs-before.json"}


def test_a_domain_min_year_reruns_that_domain_and_the_models_reading_it(sweep_run, tmp_path):
    config = tiny_sweep_config([0.01, 0.001])
    config["domains"]["Books"]["min_year"] = 1990
    jobs = planned(sweep_run, config, tmp_path)
    assert jobs["preprocess"] == 1  # Books only: Gear keeps the global (null) year
    assert jobs["train"] == 2  # the -RecG models, whose loss reads Books; -Sem on Gear stays
    config["domains"]["Books"]["min_year"] = None  # the same as the global year: nothing to do
    assert "preprocess" not in planned(sweep_run, config, tmp_path)


def test_diagnostics_cover_the_encoder_and_every_model(sweep_run):
    _, workdir = sweep_run
    table = read_table(workdir / "results/tables/diagnostics.csv")
    encoder = table[table["scope"] == "encoder"]
    assert encoder["space"].tolist() == ["llm", "llm-centred", "llm-whitened"]
    models = table[table["scope"] == "model"]
    spaces = models.groupby(["variant", "settings"])["space"].apply(list)
    assert len(spaces) == 4  # sem, sem-whiten and recg at both alphas
    for (variant, _), found in spaces.items():
        wanted = ["llm", "W_p", "W_a", "merged"] if variant == "recg" else ["llm", "W_p"]
        assert found == wanted, variant
    for metric in ("probe_accuracy", "knn_purity"):
        assert table[f"{metric}_mean"].between(0, 1).all()
    # sem-whiten reads each domain's whitened table: the encoder's whitened row, same sample
    whitened = models[(models["variant"] == "sem-whiten") & (models["space"] == "llm")]
    expected = encoder[encoder["space"] == "llm-whitened"]
    assert whitened["knn_purity_mean"].iloc[0] == pytest.approx(
        expected["knn_purity_mean"].iloc[0], abs=0.01
    )
    files = list((workdir / "results/diagnostics/models/Gear").glob("gru4rec-*/*/seed1.csv"))
    assert len(files) == 4
    assert "Semantic bias" in (workdir / "results/tables/diagnostics.md").read_text()


def test_diagnostics_can_be_turned_off_and_need_two_domains(tmp_path):
    config = tiny_sweep_config([0.01], diagnostics={"models": False})
    jobs = jobs_planned(tmp_path / "off", write_config(tmp_path / "off", config))
    assert jobs["diagnostics_encoder"] == jobs["diagnostics_table"] == 1
    assert "diagnostics_model" not in jobs
    alone = tiny_sweep_config([0.01], domains={"Gear": {"demo": True}}, targets=["Gear"])
    jobs = jobs_planned(tmp_path / "alone", write_config(tmp_path / "alone", alone))
    assert jobs["train"] == 3 and not any(rule.startswith("diagnostics") for rule in jobs)


def test_changed_preprocess_settings_write_beside_the_old_files(sweep_run, tmp_path):
    repo, workdir = sweep_run
    config = tiny_sweep_config([0.01, 0.001])
    config["preprocess"]["kcore"] = 4
    path = write_config(tmp_path, config)
    plan = run_snakemake(
        workdir, "-n", "--configfile", str(path), snakefile=repo / "Snakefile"
    ).stdout
    outputs = [p for job in jobs_with_files(plan, "preprocess", "output") for p in job]
    embedded = [p for job in jobs_with_files(plan, "embed", "output") for p in job]
    assert len(outputs) == 6 and len(embedded) == 2
    for new in outputs + embedded:
        assert not (workdir / new).exists(), new
        folder = Path(new).parent if "results/data/" in new else Path(new)
        old = [p for p in (workdir / folder).parent.glob("*") if p.name != folder.name]
        assert old, f"the first run's files beside {new} are kept"


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
    assert jobs["evaluate"] == 8


def test_editing_a_backbone_reruns_only_its_jobs(sweep_run, tmp_path):
    repo, _ = sweep_run
    config = tiny_sweep_config([0.01, 0.001], models=["gru4rec", "sasrec"])
    before = planned(sweep_run, config, tmp_path)
    with edited(repo / "src/recg/models/gru4rec.py"):
        after = planned(sweep_run, config, tmp_path)
    assert before["train"] == 4  # the sasrec models are new
    assert after["train"] == 8  # and every gru4rec model now reruns, nothing else
    assert not {"preprocess", "embed", "negatives"} & set(after)


def train_jobs(snakemake: psutil.Process) -> list[psutil.Process]:
    """The processes running a train job's script under `snakemake`."""
    jobs = []
    for proc in snakemake.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(part.endswith("train.py") for part in proc.cmdline()):
                jobs.append(proc)
    return jobs


def stop_mid_training(
    workdir: Path, snakemake: subprocess.Popen, timeout: float = 900
) -> tuple[list[psutil.Process], Path]:
    """Let the train jobs run in slices of 10 ms until one has written an epoch checkpoint but not
    yet its model; return the train jobs, all stopped (SIGSTOP), and that job's model folder."""
    main, deadline = psutil.Process(snakemake.pid), time.monotonic() + timeout
    while snakemake.poll() is None and time.monotonic() < deadline:
        jobs = train_jobs(main)
        for job in jobs:
            with contextlib.suppress(psutil.Error):
                job.suspend()
        for checkpoint in (workdir / "results/models").rglob("checkpoint-*.pt"):
            if not (checkpoint.parent / "model.pt").exists():
                return jobs, checkpoint.parent
        for job in jobs:
            with contextlib.suppress(psutil.Error):
                job.resume()
        time.sleep(0.01)
    raise AssertionError("no train job was caught between its first checkpoint and its model")


def test_interrupted_workflow_resumes_training_to_identical_metrics(sweep_run, tmp_path):
    """Ctrl-C (SIGINT) to Snakemake while a -RecG model trains, its job killed outright; the
    rerun resumes that model from its epoch checkpoint and ends with the uninterrupted metrics."""
    repo, reference = sweep_run
    workdir = tmp_path / "run"
    shutil.copytree(reference, workdir, symlinks=True)
    # the finished run, less one -RecG model and everything made from it
    model = next((workdir / "results/models/Gear/gru4rec-recg").glob("*/seed1"))
    shutil.rmtree(model)
    for made in workdir.glob(f"results/metrics/Gear/*/*/gru4rec-recg/{model.parent.name}/*"):
        made.unlink()
    metrics = "results/tables/metrics.csv"
    (workdir / metrics).unlink()
    args = ["--cores", "2", "--configfile", str(workdir / "config.yaml")]
    cmd, env = snakemake_command(workdir, *args, snakefile=repo / "Snakefile")
    console = tmp_path / "snakemake.log"
    with console.open("w") as out:
        snakemake = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        jobs, folder = stop_mid_training(workdir, snakemake)
        snakemake.send_signal(signal.SIGINT)
        for job in jobs:
            with contextlib.suppress(psutil.Error):
                job.kill()
        snakemake.wait(timeout=300)
    finally:
        snakemake.kill()
        snakemake.wait()
    assert snakemake.returncode != 0, console.read_text()[-3000:]
    assert folder == model and not (folder / "model.pt").exists()
    (checkpoint,) = folder.glob("checkpoint-*.pt")

    run_snakemake(workdir, *args, snakefile=repo / "Snakefile")
    log = workdir / "logs/train" / folder.relative_to(workdir / "results/models")
    text = log.with_suffix(".log").read_text()
    assert "resumed from" in text and checkpoint.name in text, text
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.pt", "train_log.csv"]
    assert (workdir / metrics).read_bytes() == (reference / metrics).read_bytes()


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


# ------------------------------------------------------------------------------- selection


def jobs_with_files(dry_run_output: str, rule: str, part: str = "input") -> list[list[str]]:
    """The input (or output) files of every planned job of `rule`, from a verbose dry run."""
    jobs, current = [], None
    for line in dry_run_output.splitlines():
        stripped = line.strip()
        if stripped.startswith("rule ") or stripped.startswith("localrule "):
            current = stripped.split()[1].rstrip(":") == rule
        elif current and stripped.startswith(f"{part}:"):
            jobs.append([p.strip() for p in stripped[len(part) + 1 :].split(",")])
    return jobs


def test_settings_are_chosen_on_validation_targets_only(sweep_run, tmp_path):
    """Three tiny domains: for each test target the third domain validates; the choice is the
    best validation NDCG@10, and the test table shows the chosen settings only."""
    repo, _ = sweep_run
    workdir = tmp_path / "run"
    domains = {"Gear": {"demo": True}, "Books": {"demo": True}, "Courses": {"demo": True}}
    config = write_config(
        tmp_path,
        tiny_sweep_config(
            [0.01, 0.001],
            domains=domains,
            targets=list(domains),
            demo={"users": 150, "seed": 1},  # 80 leave no 5-core in Courses
            selection={"validation": "others"},
        ),
    )
    args = ("--configfile", str(config))
    plan = run_snakemake(workdir, "-n", *args, snakefile=repo / "Snakefile").stdout
    selecting = jobs_with_files(plan, "select")
    assert len(selecting) == 6  # (Books, Courses) x (sem, sem-whiten, recg)
    inputs = [p for job in selecting for p in job if not p.endswith(".py")]
    assert inputs and all(p.startswith("results/validation/") for p in inputs)

    run_snakemake(workdir, "--cores", "2", *args, snakefile=repo / "Snakefile")
    choice = json.loads((workdir / "results/selection/Gear/Courses/gru4rec-recg.json").read_text())
    assert choice["validation_domains"] == ["Books"]
    scores = {}
    for path in (workdir / "results/validation/Gear/Books").glob("*/gru4rec-recg/*/seed1.json"):
        result = json.loads(path.read_text())
        assert result["split"] == "valid"
        scores[result["settings"]] = next(
            m["value"]
            for m in result["metrics"]
            if (m["protocol"], m["metric"], m["k"]) == ("uni10", "ndcg", 10)
        )
    assert len(scores) == 2
    assert choice["chosen"] == max(sorted(scores), key=scores.get)
    assert choice["chosen_values"]["recg.alpha"] in (0.01, 0.001)

    choices = read_table(workdir / "results/tables/selection.csv")
    assert len(choices) == 6 and set(choices["target"]) == {"Books", "Courses"}
    results = read_table(workdir / "results/tables/selected.csv")
    assert set(results["target"]) == {"Books", "Courses"} and (results["seeds"] == 1).all()
    table = (workdir / "results/tables/selected.md").read_text()
    assert "GRU4Rec-RecG" in table and "Validated on" in table
    costs = pd.read_csv(workdir / "results/tables/job_costs.csv").set_index("rule")
    validating = len(jobs_with_files(plan, "validate"))
    assert costs.loc["validate", "jobs"] == costs.loc["validate", "recorded"] == validating


def test_demo_records_what_each_heavy_job_cost(demo_run, tmp_path):
    workdir, config = demo_run
    costs = pd.read_csv(workdir / "results/tables/job_costs.csv").set_index("rule")
    planned = jobs_planned(tmp_path, config)
    for rule in ("embed", "train", "evaluate"):
        assert costs.loc[rule, "jobs"] == costs.loc[rule, "recorded"] == planned[rule]
        assert 0 < costs.loc[rule, "median_s"] <= costs.loc[rule, "max_s"]
    assert costs.loc["train", "max_rss_mib"] > 0
    assert (workdir / "results/benchmarks/train").is_dir()
