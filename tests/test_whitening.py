"""Training-free baselines: per-domain centring and ZCA whitening of the frozen tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_settings import demo

from recg.models import build_model
from recg.settings import VARIANTS, TrainSettings, flat_settings, job_settings
from recg.train import train
from recg.trainer import Trainer, architecture
from recg.whitening import center, transform_table, whiten


def _correlated(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Items with a shared offset and very unequal, correlated variances (like LLM embeddings)."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.logspace(0, -2, d)
    return rng.normal(size=(n, d)) @ mixing + rng.normal(size=d) * 5


def _table(n: int, d: int, seed: int = 0) -> np.ndarray:
    """An embedding table as the workflow stores it: row 0 is the padding item, all zeros."""
    return np.vstack([np.zeros((1, d)), _correlated(n, d, seed)]).astype(np.float32)


def _covariance(x: np.ndarray) -> np.ndarray:
    return x.T @ x / len(x)


def test_centring_gives_zero_mean():
    out = center(_correlated(50, 6))
    assert np.abs(out.mean(axis=0)).max() < 1e-10


def test_whitening_gives_identity_covariance_with_more_items_than_dims():
    eps = 1e-6
    items = _correlated(200, 8)
    out = whiten(items, eps)
    assert np.abs(out.mean(axis=0)).max() < 1e-8
    # each eigenvalue l becomes l / (l + eps * mean l): below 1 by at most eps * mean l / min l
    values = np.linalg.eigvalsh(_covariance(center(items)))
    tolerance = 2 * eps * values.mean() / values.min()
    assert np.abs(_covariance(out) - np.eye(8)).max() < tolerance


def test_whitening_with_more_dims_than_items_is_identity_on_the_item_span():
    eps = 1e-6
    items = _correlated(12, 40)
    out = whiten(items, eps)
    centred = center(items)
    basis = np.linalg.svd(centred, full_matrices=False)[2][:11]  # the 11-dim span of the items
    np.testing.assert_allclose(basis @ _covariance(out) @ basis.T, np.eye(11), atol=1e-3)
    # nothing leaks out of the span: the whitened items are combinations of the centred ones
    outside = out - out @ basis.T @ basis
    assert np.abs(outside).max() < 1e-8
    # the same vectors as the (d, d) covariance route, whose zero eigenvalues only eps keeps finite
    values, vectors = np.linalg.eigh(_covariance(centred))
    floor = eps * values.clip(0).sum() / 40
    direct = (centred @ vectors) / np.sqrt(values.clip(0) + floor) @ vectors.T
    np.testing.assert_allclose(out, direct, atol=1e-6)


def test_whitening_is_zca_not_an_arbitrary_rotation():
    """ZCA is the whitening closest to the input: it commutes with rotations of the input."""
    items = _correlated(100, 5)
    rotation = np.linalg.qr(np.random.default_rng(3).normal(size=(5, 5)))[0]
    np.testing.assert_allclose(
        whiten(items @ rotation, 1e-4), whiten(items, 1e-4) @ rotation, atol=1e-8
    )


def test_table_transform_keeps_padding_and_rejects_unknown():
    table = _table(30, 4)
    for transform in ("center", "whiten"):
        out = transform_table(table, transform, 1e-3)
        assert out.dtype == np.float32 and not out[0].any()
        assert np.abs(out[1:].mean(axis=0)).max() < 1e-5
    assert transform_table(table, "none", 1e-3) is table
    with pytest.raises(ValueError, match="unknown table transform 'pca'"):
        transform_table(table, "pca", 1e-3)
    with pytest.raises(ValueError, match="no variance"):
        whiten(np.ones((5, 3)), 1e-3)


def test_model_transforms_every_installed_table_with_its_own_statistics():
    model = build_model("gru4rec", 6, 4, 5, 0.0, table_transform="whiten", whiten_eps=1e-6)
    for seed, n in ((0, 40), (1, 25)):
        raw = _table(n, 6, seed)
        model.items.set_table(torch.from_numpy(raw))
        np.testing.assert_allclose(
            model.items.table[1:].numpy(), whiten(raw[1:], 1e-6), rtol=1e-4, atol=1e-4
        )


def test_baseline_variants_only_transform_the_table():
    for name, table in (("sem-center", "center"), ("sem-whiten", "whiten")):
        variant = VARIANTS[name]
        assert variant.table == table and not variant.align and not variant.generalisation
    config = demo()
    uses = {
        v: "train.whiten_eps" in flat_settings(job_settings(config, "gru4rec", v, 1, {}))
        for v in ("sem", "sem-center", "sem-whiten", "recg")
    }
    assert uses == {"sem": False, "sem-center": False, "sem-whiten": True, "recg": False}


def test_recg_center_is_recg_on_centred_tables():
    recg, centred = VARIANTS["recg"], VARIANTS["recg-center"]
    assert centred.table == "center" and recg.table == "none"
    assert (centred.align, centred.intra, centred.inter, centred.patterns) == (True,) * 4
    settings = TrainSettings(
        model="gru4rec",
        variant="recg-center",
        hidden=8,
        max_len=6,
        batch_size=16,
        epochs=1,
        samples_per_domain=8,
        clusters=2,
        pattern_epochs=1,
    )
    source, *others = (
        torch.from_numpy(_table(n, 6, seed)) for seed, n in ((0, 30), (1, 20), (2, 25))
    )
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1, 31, size=6) for _ in range(20)]
    trainer = Trainer(settings, source, sequences, others, log=lambda _: None)
    for table in (trainer.model.items.table, *trainer.other_domains):
        assert np.abs(table[1:].mean(dim=0).numpy()).max() < 1e-5
        assert not table[0].any()
    trainer.fit()
    assert trainer.history[0]["gen_loss"] != 0


@pytest.mark.parametrize("variant", ["sem-center", "sem-whiten"])
def test_tiny_training_run_with_a_baseline_variant(variant):
    rng = np.random.default_rng(0)
    n_items, dim = 30, 8
    table = torch.from_numpy(_table(n_items, dim))
    sequences = [rng.integers(1, n_items + 1, size=rng.integers(5, 10)) for _ in range(40)]
    settings = TrainSettings(
        model="gru4rec", variant=variant, hidden=8, max_len=6, batch_size=16, epochs=2
    )
    model, summary, history = train(settings, table, sequences, log=lambda _: None)
    assert len(history) == 2 and summary["best_epoch"] >= 1
    assert np.abs(model.items.table[1:].mean(dim=0).numpy()).max() < 1e-5
    spec = architecture(settings, dim)
    assert spec["table_transform"] == VARIANTS[variant].table
    assert (spec["whiten_eps"] > 0) == (variant == "sem-whiten")
    rebuilt = build_model(**spec)
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.items.set_table(table)
    assert torch.equal(rebuilt.items.table, model.items.table)
