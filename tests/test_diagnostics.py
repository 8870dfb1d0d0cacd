"""Semantic-bias diagnostics: the metrics on fixtures with known answers, and the files."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from recg.bias_jobs import BiasSettings, encoder_bias_to_file
from recg.bias_table import bias_table
from recg.diagnostics import (
    bias,
    centre_ratio,
    expected_purity,
    knn_purity,
    majority_rate,
    probe_accuracy,
    sample_rows,
    stack,
)
from recg.embed import load_embeddings
from recg.errors import ConfigError
from recg.io import read_table
from recg.model_bias import model_bias_to_file
from recg.models import build_model
from recg.spaces import input_vectors, model_spaces

DIM = 8


def _blobs(sizes: dict[str, int], gap: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Domain -> Gaussian items around its own centre, `gap` apart along its own axis."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, (name, n) in enumerate(sorted(sizes.items())):
        centre = np.zeros(DIM)
        centre[i] = gap
        out[name] = rng.normal(size=(n, DIM)) + centre
    return out


@pytest.fixture(scope="module")
def separable():
    return stack(_blobs({"a": 200, "b": 200, "c": 200}, gap=20.0))


def test_separable_domains_are_found(separable):
    x, labels = separable
    assert knn_purity(x, labels, 10) == 1.0
    assert probe_accuracy(x, labels, 5, 0) > 0.99
    assert majority_rate(labels) == pytest.approx(1 / 3)
    assert centre_ratio(x, labels) > 5


def test_shuffled_labels_give_chance_level(separable):
    x, labels = separable
    shuffled = np.random.default_rng(1).permutation(labels)
    n, k = len(labels), 10
    chance = majority_rate(shuffled)
    # held-out accuracy over n items of a probe with no signal: binomial, sd sqrt(p(1-p)/n)
    probe_sd = np.sqrt(chance * (1 - chance) / n)
    assert abs(probe_accuracy(x, shuffled, 5, 0) - chance) < 4 * probe_sd
    # n * k neighbour draws; mutual neighbours count twice, so at most double the variance
    expected = expected_purity(shuffled)
    purity_sd = np.sqrt(2 * expected * (1 - expected) / (n * k))
    assert abs(knn_purity(x, shuffled, k) - expected) < 4 * purity_sd


def test_identical_distributions_have_centres_close_together():
    n = 1000
    x, labels = stack(_blobs({"a": n, "b": n}, gap=0.0))
    # the centres of two samples of n items differ by about spread * sqrt(2 / n)
    assert centre_ratio(x, labels) < 3 * np.sqrt(2 / n)
    assert centre_ratio(x * 7 + 3, labels) == pytest.approx(centre_ratio(x, labels))


def test_expected_purity_is_purity_with_every_other_item_a_neighbour():
    x, labels = stack(_blobs({"a": 7, "b": 3, "c": 5}, gap=1.0))
    assert knn_purity(x, labels, len(x) - 1, block=4) == pytest.approx(expected_purity(labels))
    assert expected_purity(np.array([0, 0, 1])) == pytest.approx(1 / 3)


def test_purity_does_not_depend_on_the_block_size(separable):
    x, labels = separable
    mixed = x + np.random.default_rng(2).normal(scale=15, size=x.shape)
    assert knn_purity(mixed, labels, 10, block=7) == knn_purity(mixed, labels, 10, block=1024)


def test_samples_are_fixed_capped_and_sorted():
    first = sample_rows({"a": 50, "b": 5}, 10, seed=3)
    assert first["b"].tolist() == [0, 1, 2, 3, 4]
    assert len(first["a"]) == 10 and np.all(np.diff(first["a"]) > 0)
    assert np.array_equal(first["a"], sample_rows({"a": 50, "b": 5}, 10, seed=3)["a"])
    assert not np.array_equal(first["a"], sample_rows({"a": 50, "b": 5}, 10, seed=4)["a"])


def test_bias_needs_two_domains():
    with pytest.raises(ValueError, match="at least two domains"):
        bias(_blobs({"a": 20}, gap=1.0), 2, 3, 0)


# ------------------------------------------------------------------------------ files


def _embeddings(tmp_path, sizes: dict[str, int]) -> dict[str, str]:
    paths = {}
    for name, items in _blobs(sizes, gap=6.0).items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(
            pa.table(
                {
                    "item_idx": np.arange(1, len(items) + 1, dtype=np.int64),
                    "embedding": pa.array(
                        list(items.astype(np.float32)), pa.list_(pa.float32(), DIM)
                    ),
                }
            ),
            path,
        )
        paths[name] = str(path)
    return paths


def _model(tmp_path, align: bool) -> tuple[str, str]:
    spec = {"name": "gru4rec", "llm_dim": DIM, "hidden": 4, "max_len": 5, "dropout": 0.1}
    spec["align"] = align
    model = build_model(**spec)
    weights, config = tmp_path / f"model-{align}.pt", tmp_path / f"config-{align}.json"
    torch.save(model.state_dict(), weights)
    config.write_text(json.dumps({"architecture": spec}))
    return str(weights), str(config)


def test_model_spaces_follow_the_variant(tmp_path):
    paths = _embeddings(tmp_path, {"a": 30, "b": 20})
    tables = {d: load_embeddings(p) for d, p in paths.items()}
    rows = sample_rows({"a": 30, "b": 20}, 10, 0)
    sem = model_spaces(*_model(tmp_path, False), tables, rows)
    assert list(sem) == ["llm", "W_p"]
    np.testing.assert_array_equal(sem["llm"]["a"], tables["a"][1:][rows["a"]])
    recg_model = _model(tmp_path, True)
    recg = model_spaces(*recg_model, tables, rows)
    assert list(recg) == ["llm", "W_p", "W_a", "merged"]
    assert recg["merged"]["b"].shape == (10, 4)
    whole = input_vectors(*recg_model, tables)
    np.testing.assert_allclose(whole["a"][rows["a"]], recg["merged"]["a"], rtol=1e-6)


def test_encoder_and_model_diagnostics_make_one_table(tmp_path):
    paths = _embeddings(tmp_path, {"a": 40, "b": 30, "c": 25})
    settings = BiasSettings(per_domain=20, folds=3, neighbours=5, seed=0)
    encoder = encoder_bias_to_file(
        paths, tmp_path / "enc.csv", settings, 1e-3, {"encoder": "minilm"}
    )
    assert encoder["space"].tolist() == ["llm", "llm-centred", "llm-whitened"]
    assert (encoder["items"] == 60).all()
    raw, centred = encoder.iloc[0], encoder.iloc[1]
    assert raw["knn_purity"] > raw["knn_expected"] and raw["centre_ratio"] > 1
    # centring each domain on its own mean removes the offset between their centres
    assert centred["centre_ratio"] < raw["centre_ratio"] / 5
    # an id of digits around an "e" reads as a float (here inf) unless kept as text
    labels = {"source": "a", "model": "gru4rec", "variant": "recg", "settings": "350e5461"}
    model_files = []
    recg_model = _model(tmp_path, True)
    for seed in (1, 2):
        out = tmp_path / f"seed{seed}.csv"
        model_bias_to_file(*recg_model, paths, out, settings, {**labels, "seed": seed})
        model_files.append(str(out))
    table = bias_table(
        [str(tmp_path / "enc.csv")], model_files, tmp_path / "d.md", tmp_path / "d.csv"
    )
    assert len(table) == 3 + 4
    models = table[table["scope"] == "model"]
    assert models["space"].tolist() == ["llm", "W_p", "W_a", "merged"]
    assert (models["settings"] == "350e5461").all()
    assert (models["seeds"] == 2).all()
    # identical weights for both seeds: no spread between them
    assert (models["probe_accuracy_std"] == 0).all()
    written = read_table(tmp_path / "d.csv")
    assert written.shape == table.shape and "350e5461" in written["settings"].tolist()
    text = (tmp_path / "d.md").read_text()
    assert "GRU4Rec-RecG" in text and "encoder minilm" in text and " ± " in text


def test_too_few_items_for_the_folds_is_a_config_error(tmp_path):
    paths = _embeddings(tmp_path, {"a": 40, "b": 3})
    out = tmp_path / "enc.csv"
    with pytest.raises(ConfigError, match=r"'diagnostics\.folds': 5 folds .* b has 3"):
        encoder_bias_to_file(paths, out, BiasSettings(folds=5), 1e-3, {"encoder": "x"})
    assert not out.exists()
    with pytest.raises(ConfigError, match="at least two domains"):
        encoder_bias_to_file({"a": paths["a"]}, out, BiasSettings(), 1e-3, {"encoder": "x"})
