"""Stage contracts: embeddings match their items, a model matches the settings asked for, a
checkpoint resumes only its own settings, negatives match the users of their sequences."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from test_train import _quiet, _sequences, _settings, _table
from train_inputs import LLM_DIM, N_ITEMS

from recg.contracts import check_embeddings_match_items
from recg.errors import InputError
from recg.evaluate import evaluate_to_file, popularity_to_file
from recg.negatives import load_negatives, negatives_to_file
from recg.settings import flat_settings
from recg.spaces import item_spaces
from recg.train import train_to_files
from recg.trainer import Trainer

SETTINGS = _settings(epochs=1)


def write_embeddings(path: Path, item_idx: np.ndarray) -> Path:
    table = _table(len(item_idx)).numpy()[1:]
    pq.write_table(
        pa.table(
            {
                "item_idx": pa.array(item_idx, pa.int32()),
                "embedding": pa.array(list(table), pa.list_(pa.float32(), LLM_DIM)),
            }
        ),
        path,
    )
    return path


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    """A small domain's files and a model trained on them, as the workflow writes them."""
    root = tmp_path_factory.mktemp("domain")
    seqs = _sequences()
    files = {
        "sequences": root / "sequences.parquet",
        "items": root / "items.parquet",
        "embeddings": write_embeddings(root / "embeddings.parquet", np.arange(1, N_ITEMS + 1)),
        "negatives": root / "negatives.parquet",
        "model": root / "model" / "model.pt",
        "config": root / "model" / "config.json",
    }
    pq.write_table(
        pa.table(
            {
                "user_id": [f"u{i:03d}" for i in range(len(seqs))],
                "item_seq": pa.array([s.tolist() for s in seqs], pa.list_(pa.int64())),
            }
        ),
        files["sequences"],
    )
    idx = np.arange(1, N_ITEMS + 1, dtype=np.int32)
    pq.write_table(pa.table({"item_idx": idx, "text": [f"item {i}" for i in idx]}), files["items"])
    negatives_to_file(files["sequences"], files["items"], files["negatives"], n=5, seed=0)
    train_to_files(
        SETTINGS,
        files["sequences"],
        files["embeddings"],
        [],
        files["model"],
        files["config"],
        root / "model" / "train_log.csv",
        source="S",
        items_path=files["items"],
        log=_quiet,
    )
    return files


def labels(**changed) -> dict:
    settings = dataclasses.replace(SETTINGS, **changed)
    return {
        "source": "S",
        "target": "S",
        "model": settings.model,
        "variant": settings.variant,
        "seed": settings.seed,
        "settings_values": flat_settings(dataclasses.asdict(settings)),
    }


def evaluate(files: dict, out: Path, **replaced) -> dict:
    paths = {**files, **replaced}
    return evaluate_to_file(
        paths["model"],
        paths["config"],
        paths["sequences"],
        paths["items"],
        paths["embeddings"],
        paths["negatives"],
        out,
        replaced.get("labels", labels()),
        [10],
        log=_quiet,
    )


# ----------------------------------------------------------------------- embeddings and items


@pytest.mark.parametrize(
    ("item_idx", "says"),
    [
        (np.arange(1, N_ITEMS), f"has {N_ITEMS - 1} rows but"),
        (np.r_[2, 1, np.arange(3, N_ITEMS + 1)], "differ in item_idx order from row 0 (2 vs 1)"),
    ],
)
def test_embeddings_of_other_items_are_refused_naming_both_files(domain, tmp_path, item_idx, says):
    wrong = write_embeddings(tmp_path / "other.parquet", item_idx)
    with pytest.raises(InputError, match=r"other\.parquet") as info:
        check_embeddings_match_items(wrong, domain["items"])
    assert says in str(info.value) and str(domain["items"]) in str(info.value)


def test_training_evaluation_and_the_map_check_embeddings_against_items(domain, tmp_path):
    wrong = write_embeddings(tmp_path / "short.parquet", np.arange(1, N_ITEMS))
    out = tmp_path / "model"
    with pytest.raises(InputError, match=r"short\.parquet has"):
        train_to_files(
            SETTINGS,
            domain["sequences"],
            wrong,
            [],
            out / "model.pt",
            out / "config.json",
            out / "train_log.csv",
            source="S",
            items_path=domain["items"],
            log=_quiet,
        )
    assert not out.exists()
    with pytest.raises(InputError, match=r"short\.parquet has"):
        evaluate(domain, tmp_path / "m.json", embeddings=wrong)
    assert not (tmp_path / "m.json").exists()
    with pytest.raises(InputError, match=r"short\.parquet has"):
        item_spaces(
            {"S": wrong}, {"S": domain["items"]}, {"x": (domain["model"], domain["config"])}
        )


# ----------------------------------------------------------------------- models and settings


def test_evaluation_runs_with_the_settings_the_model_was_trained_under(domain, tmp_path):
    result = evaluate(domain, tmp_path / "m.json")
    assert {row["protocol"] for row in result["metrics"]} == {"full", "uni5"}


@pytest.mark.parametrize(
    ("changed", "says"),
    [
        ({"lr": 0.5}, "train.lr: recorded 0.001, asked for 0.5"),
        ({"seed": 7}, "seed: recorded 1, asked for 7"),
        ({"hidden": 16}, "train.hidden: recorded 8, asked for 16"),
    ],
)
def test_evaluation_refuses_a_model_trained_under_other_settings(domain, tmp_path, changed, says):
    with pytest.raises(InputError, match="trained under other settings") as info:
        evaluate(domain, tmp_path / "m.json", labels=labels(**changed))
    assert str(domain["config"]) in str(info.value) and says in str(info.value)
    assert not (tmp_path / "m.json").exists()


def test_weights_that_do_not_fit_the_recorded_architecture_are_refused(domain, tmp_path):
    config = json.loads(domain["config"].read_text())
    config["architecture"]["hidden"] = 16
    other = tmp_path / "config.json"
    other.write_text(json.dumps(config))
    with pytest.raises(InputError, match="does not fit the architecture recorded in") as info:
        evaluate(domain, tmp_path / "m.json", config=other)
    message = str(info.value)
    assert str(domain["model"]) in message and str(other) in message and "size mismatch" in message


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    seqs, checkpoint = _sequences(), tmp_path / "checkpoint.pt"
    Trainer(SETTINGS, _table(), seqs, log=_quiet).fit(checkpoint)
    other = dataclasses.replace(SETTINGS, lr=0.5, epochs=2)
    with pytest.raises(InputError, match="written under other settings") as info:
        Trainer(other, _table(), seqs, log=_quiet).fit(checkpoint)
    message = str(info.value)
    assert str(checkpoint) in message
    assert "lr: recorded 0.001, asked for 0.5" in message and "epochs: recorded 1" in message
    resumed = Trainer(SETTINGS, _table(), seqs, log=_quiet)
    resumed.fit(checkpoint)
    assert resumed.epoch == 1 and len(resumed.history) == 1  # resumed, not retrained
    state = torch.load(checkpoint, weights_only=True)
    del state["settings"]
    torch.save(state, checkpoint)
    with pytest.raises(InputError, match="records no settings"):
        Trainer(SETTINGS, _table(), seqs, log=_quiet).fit(checkpoint)


# ----------------------------------------------------------------------------- negatives


def rewrite_negatives(source: Path, out: Path, rows: list[int]) -> Path:
    table = pq.read_table(source)
    pq.write_table(table.take(rows).replace_schema_metadata(table.schema.metadata), out)
    return out


def test_negatives_are_matched_by_user_not_by_row(domain, tmp_path):
    users = pq.read_metadata(domain["sequences"]).num_rows
    shuffled = np.random.default_rng(0).permutation(users).tolist()
    moved = rewrite_negatives(domain["negatives"], tmp_path / "negatives.parquet", shuffled)
    aligned = load_negatives(domain["negatives"], domain["sequences"])
    assert np.array_equal(load_negatives(moved, domain["sequences"]), aligned)
    first = evaluate(domain, tmp_path / "a.json")
    second = evaluate(domain, tmp_path / "b.json", negatives=moved)
    assert first["metrics"] == second["metrics"]


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        (lambda n: list(range(1, n)), "1 of its users are missing (e.g. ['u000'])"),
        (lambda n: [*range(n), 0], "1 users have more than one row"),
    ],
)
def test_negatives_of_other_users_are_refused_naming_both_files(domain, tmp_path, rows, says):
    users = pq.read_metadata(domain["sequences"]).num_rows
    wrong = rewrite_negatives(domain["negatives"], tmp_path / "neg.parquet", rows(users))
    with pytest.raises(InputError, match=r"neg\.parquet does not match the users of") as info:
        load_negatives(wrong, domain["sequences"])
    assert says in str(info.value) and str(domain["sequences"]) in str(info.value)
    out = tmp_path / "pop.json"
    with pytest.raises(InputError, match=re.escape(says)):
        popularity_to_file(domain["sequences"], domain["items"], wrong, out, {}, [10])
    assert not out.exists()


def test_negatives_for_users_outside_the_sequences_are_refused(domain, tmp_path):
    table = pq.read_table(domain["negatives"])
    ids = table["user_id"].to_pylist()
    ids[0] = "stranger"
    wrong = tmp_path / "neg.parquet"
    pq.write_table(table.set_column(0, "user_id", pa.array(ids)), wrong)
    with pytest.raises(InputError) as info:
        load_negatives(wrong, domain["sequences"])
    assert "1 of its users are missing (e.g. ['u000'])" in str(info.value)
    assert "1 users are not among them" in str(info.value)


def test_negatives_rows_of_the_wrong_length_are_refused(domain, tmp_path):
    table = pq.read_table(domain["negatives"])
    rows = table["negatives"].to_pylist()
    rows[3] = rows[3][:-1]
    wrong = tmp_path / "neg.parquet"
    pq.write_table(table.set_column(1, "negatives", pa.array(rows, pa.list_(pa.int32()))), wrong)
    with pytest.raises(InputError, match="rows do not all hold the recorded n=5 negatives"):
        load_negatives(wrong, domain["sequences"])
