"""Kill a real stage process part-way (SIGKILL), rerun it, and compare with an uninterrupted run:
embedding resumes from its cache, training from its epoch checkpoint, SG from its W_f checkpoint,
and each ends with the bytes an uninterrupted run writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from conftest import REPO
from stage_runner import STALLED
from train_inputs import write_training_inputs

RUNNER = Path(__file__).with_name("stage_runner.py")
TIMEOUT = 300


def start(tmp_path: Path, stage: str, *args: str | Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}
    with open(tmp_path / "stderr.log", "a") as err:
        return subprocess.Popen(
            [sys.executable, str(RUNNER), stage, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, out
    return out


def kill_when_stalled(tmp_path: Path, stage: str, *args: str | Path) -> str:
    """Run a stage until it stalls at its marked progress line, then SIGKILL it."""
    proc = start(tmp_path, stage, *args)
    watchdog = threading.Timer(TIMEOUT, proc.kill)
    watchdog.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == STALLED:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        watchdog.cancel()
    assert lines and lines[-1].strip() == STALLED, "".join(lines)
    return "".join(lines)


def write_items(path: Path, n: int) -> Path:
    colours = ["red", "blue", "black", "silver", "green", "white", "orange"]
    nouns = ["kettle", "lamp", "backpack", "tripod", "notebook", "speaker", "drill", "mug"]
    texts = [
        f"title: {colours[i % 7]} {nouns[i % 8]} no. {i}. description: " + "sturdy " * (i % 5)
        for i in range(n)
    ]
    pq.write_table(
        pa.table({"item_idx": pa.array(range(1, n + 1), pa.int32()), "text": texts}), path
    )
    return path


def test_embedding_killed_mid_run_resumes_from_its_cache(tmp_path):
    items = write_items(tmp_path / "items.parquet", 40)
    ref, run = tmp_path / "reference", tmp_path / "run"
    reference = start(tmp_path, "embed", items, ref / "out.parquet", ref / "cache")
    # flushed every 8 texts: killed once 16 are in the cache
    kill_when_stalled(tmp_path, "embed", items, run / "out.parquet", run / "cache", "encoded", 2)
    assert not (run / "out.parquet").exists()
    assert len(list((run / "cache").rglob("part-*.parquet"))) == 2
    resumed = finish(start(tmp_path, "embed", items, run / "out.parquet", run / "cache"))
    assert "40 texts: 16 cached, 24 distinct texts to encode" in resumed
    finish(reference)
    assert (run / "out.parquet").read_bytes() == (ref / "out.parquet").read_bytes()


TINY = {
    "model": "gru4rec",
    "variant": "recg",
    "hidden": 8,
    "max_len": 6,
    "dropout": 0.2,
    "batch_size": 16,
    "epochs": 4,
    "patience": 10,
    "samples_per_domain": 8,
    "clusters": 3,
    "pattern_epochs": 4,
}


def test_training_and_sg_killed_mid_run_resume_from_their_checkpoints(tmp_path):
    sequences, (source, *others) = write_training_inputs(tmp_path / "inputs")
    args = [json.dumps(TINY), sequences, source, json.dumps(list(map(str, others)))]
    ref, run = tmp_path / "reference", tmp_path / "run"
    reference = start(tmp_path, "train", *args, ref)

    def checkpoints() -> dict[str, Path]:
        return {p.name.split("-")[0]: p for p in run.glob("*.pt")}

    def epoch(path: Path) -> int:
        return torch.load(path, weights_only=True)["epoch"]

    # killed in training (epoch 3 is logged before its checkpoint is written)
    kill_when_stalled(tmp_path, "train", *args, run, "epoch   3 ", 1)
    assert list(checkpoints()) == ["checkpoint"] and epoch(checkpoints()["checkpoint"]) == 2
    # rerun: training resumes; killed again in SG's W_f fit
    log = kill_when_stalled(tmp_path, "train", *args, run, "SG: W_f epoch 2:", 1)
    assert f"resumed from {checkpoints()['checkpoint']} after epoch 2" in log
    assert sorted(checkpoints()) == ["checkpoint", "patterns"]
    assert epoch(checkpoints()["patterns"]) == 2
    # rerun: W_f's fit resumes
    saved = checkpoints()
    log = finish(start(tmp_path, "train", *args, run))
    assert f"resumed from {saved['checkpoint']} after epoch 4" in log
    assert f"SG: resumed W_f from {saved['patterns']} after epoch 2" in log

    finish(reference)
    assert (run / "model.pt").read_bytes() == (ref / "model.pt").read_bytes()
    summaries = [json.loads((d / "config.json").read_text())["summary"] for d in (run, ref)]
    assert summaries[0] == summaries[1]
    logs = [pd.read_csv(d / "train_log.csv").drop(columns="seconds") for d in (run, ref)]
    pd.testing.assert_frame_equal(*logs)
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "model.pt", "train_log.csv"]
