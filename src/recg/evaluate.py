"""Evaluation of a trained model (or the popularity baseline) on a target domain.

`full`: the test item is ranked against every item of the domain except the user's history.
`uni100`: against 100 negatives sampled once per (domain, user), shared by every model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from recg.contracts import check_embeddings_match_items, check_model_settings
from recg.data import load_sequences
from recg.embed import load_embeddings
from recg.io import write_json
from recg.models import load_trained
from recg.negatives import load_negatives
from recg.provenance import provenance
from recg.ranking import (
    metric_rows,
    rank_against_all,
    rank_candidates,
    rank_full,
    rank_sampled,
    split_targets,
    split_user_vectors,
)


def popularity_model_ranks(
    train_counts: np.ndarray, sequences: Sequence[np.ndarray], negatives: np.ndarray
) -> dict[str, np.ndarray]:
    """Ranks under both protocols for a most-popular baseline (scores = training counts)."""
    scores = torch.from_numpy(train_counts.astype(np.float64))
    n_items = len(train_counts) - 1
    full = rank_against_all(
        lambda lo, hi: scores.expand(hi - lo, -1), sequences, "test", n_items, batch_size=4096
    )
    sampled = rank_candidates(
        lambda lo, hi, candidates: scores[candidates],
        split_targets(sequences, "test"),
        negatives,
        batch_size=4096,
    )
    return {"full": full, f"uni{negatives.shape[1]}": sampled}


def _rows(ranks: dict[str, np.ndarray], ks: Sequence[int]) -> list[dict[str, Any]]:
    return [
        {"protocol": protocol, "metric": metric, "k": k, "value": value}
        for protocol, r in ranks.items()
        for metric, k, value in metric_rows(r, ks)
    ]


def evaluate_to_file(
    model_path: str | Path,
    config_path: str | Path,
    sequences_path: str | Path,
    items_path: str | Path,
    embeddings_path: str | Path,
    negatives_path: str | Path,
    out: str | Path,
    labels: dict[str, Any],
    ks: Sequence[int],
    batch_size: int = 1024,
    log: Callable[[str], None] = print,
    device: str = "cpu",
    split: str = "test",
) -> dict[str, Any]:
    """Score every target user with a source model and the target's embeddings (no training).

    `split="valid"` ranks the second-to-last items instead: validation targets, for choosing
    settings without looking at any test item. `labels` name the job (source, target, model,
    variant, seed, settings_values); the model's config.json must record the same source, model,
    variant, seed and settings.
    """
    check_embeddings_match_items(embeddings_path, items_path)
    model, config = load_trained(model_path, config_path)
    identity = {k: labels[k] for k in ("source", "model", "variant", "seed")}
    check_model_settings(config, config_path, {**identity, **labels["settings_values"]})
    model = model.to(device)
    model.items.set_table(torch.from_numpy(load_embeddings(embeddings_path)))
    zero_shot = labels["target"] != labels["source"]
    model.use_patterns = zero_shot and model.patterns is not None
    sequences = load_sequences(sequences_path)
    negatives = load_negatives(negatives_path, sequences_path)
    users = split_user_vectors(model, sequences, split, batch_size)
    ranks = {
        "full": rank_full(model, sequences, split, batch_size, users=users),
        f"uni{negatives.shape[1]}": rank_sampled(
            model, sequences, negatives, batch_size, users=users, split=split
        ),
    }
    result = {
        **labels,
        "split": split,
        "users": len(sequences),
        "items": model.items.n_items,
        "sequence_patterns": model.use_patterns,
        "metrics": _rows(ranks, ks),
        "provenance": provenance({"model": str(model_path), "target": str(sequences_path)}),
    }
    write_json(result, out)
    for row in result["metrics"]:
        if row["k"] == 10:
            log(f"{row['protocol']:>7} {row['metric']}@10 = {row['value']:.4f}")
    return result


def popularity_to_file(
    sequences_path: str | Path,
    items_path: str | Path,
    negatives_path: str | Path,
    out: str | Path,
    labels: dict[str, Any],
    ks: Sequence[int],
) -> dict[str, Any]:
    """In-domain most-popular baseline: items ranked by their count in the training parts."""
    n_items = pq.read_metadata(items_path).num_rows
    sequences = load_sequences(sequences_path)
    counts = np.bincount(np.concatenate([s[:-2] for s in sequences]), minlength=n_items + 1)
    negatives = load_negatives(negatives_path, sequences_path)
    ranks = popularity_model_ranks(counts, sequences, negatives)
    result = {**labels, "users": len(sequences), "items": n_items, "metrics": _rows(ranks, ks)}
    write_json(result, out)
    return result
