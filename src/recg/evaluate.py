"""Leave-one-out ranking metrics under two protocols, computed batch-wise on tensors.

`full`: the test item is ranked against every item of the domain except the user's history.
`uni100`: against 100 negatives sampled once per (domain, user), shared by every model.
Ties count against the model (a constant scorer ranks last), so no model gains from ties.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import Tensor

from recg.data import load_sequences
from recg.embed import load_embeddings
from recg.errors import InputError
from recg.io import read_json, read_parquet_metadata, write_json, write_parquet
from recg.models import Recommender, load_model
from recg.provenance import provenance

PROTOCOLS = ("full", "uni100")


def ranks_from_scores(scores: Tensor, target_scores: Tensor, valid: Tensor | None = None) -> Tensor:
    """0-based rank of each target: candidates scoring >= the target, the target itself excluded."""
    ahead = scores >= target_scores.unsqueeze(1)
    if valid is not None:
        ahead &= valid
    return ahead.sum(dim=1) - 1


def metric_rows(ranks: np.ndarray, ks: Sequence[int]) -> list[tuple[str, int, float]]:
    """(metric, k, value): Recall@k (= HR@k, one target per user), NDCG@k, and MRR (k = 0)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    rows = []
    for k in ks:
        hit = ranks < k
        rows.append(("recall", k, float(hit.mean())))
        rows.append(("ndcg", k, float((hit / np.log2(ranks + 2)).mean())))
    rows.append(("mrr", 0, float((1.0 / (ranks + 1)).mean())))
    return rows


def split_inputs(
    sequences: Sequence[np.ndarray], split: str, max_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded inputs and targets for the `test` or `valid` leave-one-out split."""
    cut = {"test": 1, "valid": 2}[split]
    targets = np.array([s[-cut] for s in sequences], dtype=np.int64)
    inputs = pad([s[:-cut][-max_items:] for s in sequences])
    return inputs, targets


def pad(rows: Sequence[np.ndarray], width: int | None = None) -> np.ndarray:
    width = width or max((len(r) for r in rows), default=1)
    out = np.zeros((len(rows), max(width, 1)), dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row[-width:] if len(row) else row
    return out


def history_mask(sequences: Sequence[np.ndarray], n_items: int, cut: int) -> torch.Tensor:
    """(U, N+1) bool: True where the item is a candidate (not padding, not in the input history)."""
    lengths = np.array([len(s) - cut for s in sequences])
    rows = np.repeat(np.arange(len(sequences)), lengths)
    cols = np.concatenate([s[:-cut] for s in sequences]) if len(sequences) else np.empty(0, int)
    valid = torch.ones(len(sequences), n_items + 1, dtype=torch.bool)
    valid[:, 0] = False
    valid[torch.from_numpy(rows), torch.from_numpy(cols)] = False
    return valid


@torch.inference_mode()
def user_vectors(model: Recommender, inputs: np.ndarray, batch_size: int = 1024) -> Tensor:
    """One vector per row of right-padded `inputs`, in their order.

    Rows are encoded in order of length so that each batch is cut to its own longest row: most
    users are short, and a batch padded to the one long user cost up to 5x for the transformers.
    """
    model.eval()
    order = np.argsort((inputs > 0).sum(axis=1), kind="stable")
    parts = []
    for lo in range(0, len(inputs), batch_size):
        batch = torch.from_numpy(inputs[order[lo : lo + batch_size]]).to(model.device)
        width = int((batch > 0).sum(dim=1).max())
        parts.append(model.user_vectors(batch[:, : max(width, 1)]))
    if not parts:
        return torch.empty(0, model.backbone.hidden, device=model.device)
    users = torch.empty(len(inputs), model.backbone.hidden, device=model.device)
    users[torch.from_numpy(order).to(model.device)] = torch.cat(parts)
    return users


@torch.inference_mode()
def rank_full(
    model: Recommender,
    sequences: Sequence[np.ndarray],
    split: str,
    batch_size: int = 1024,
    users: Tensor | None = None,
) -> np.ndarray:
    """Ranks of the split's targets among all items not in the user's input history."""
    cut = {"test": 1, "valid": 2}[split]
    inputs, targets = split_inputs(sequences, split, model.max_items)
    users = user_vectors(model, inputs, batch_size) if users is None else users
    items = model.items.outputs()
    ranks = []
    for lo in range(0, len(inputs), batch_size):
        chunk = sequences[lo : lo + batch_size]
        scores = users[lo : lo + batch_size] @ items.T
        target = torch.from_numpy(targets[lo : lo + batch_size]).to(scores.device)
        valid = history_mask(chunk, model.items.n_items, cut).to(scores.device)
        valid[torch.arange(len(chunk), device=scores.device), target] = True
        ranks.append(ranks_from_scores(scores, scores.gather(1, target[:, None])[:, 0], valid))
    return torch.cat(ranks).cpu().numpy()


@torch.inference_mode()
def rank_sampled(
    model: Recommender,
    sequences: Sequence[np.ndarray],
    negatives: np.ndarray,
    batch_size: int = 1024,
    users: Tensor | None = None,
) -> np.ndarray:
    """Ranks of the test targets among their pre-drawn negatives."""
    inputs, targets = split_inputs(sequences, "test", model.max_items)
    users = user_vectors(model, inputs, batch_size) if users is None else users
    candidates = torch.from_numpy(np.concatenate([targets[:, None], negatives], axis=1))
    candidates = candidates.to(model.device)
    ranks = []
    for lo in range(0, len(inputs), batch_size):
        scores = model.score(users[lo : lo + batch_size], candidates[lo : lo + batch_size])
        ranks.append(ranks_from_scores(scores, scores[:, 0]))
    return torch.cat(ranks).cpu().numpy()


def sample_eval_negatives(
    sequences: Sequence[np.ndarray], n_items: int, n: int, seed: int
) -> np.ndarray:
    """(U, n) distinct negatives per user, uniform over 1..n_items minus the user's whole sequence.

    Rejection sampling on whole rows: a row with too few valid draws is redrawn, wider.
    """
    longest = max(len(np.unique(s)) for s in sequences)
    if n_items - longest < n:
        raise ValueError(
            f"cannot draw {n} negatives: the domain has {n_items} items and a user has {longest}"
        )
    rng = np.random.default_rng(seed)
    n_users = len(sequences)
    lengths = np.array([len(s) for s in sequences])
    seen = np.sort(
        np.repeat(np.arange(n_users, dtype=np.int64), lengths) * (n_items + 1)
        + np.concatenate(sequences).astype(np.int64)
    )
    out = np.zeros((n_users, n), dtype=np.int64)
    todo = np.arange(n_users)
    width = 2 * n
    while len(todo):
        draw = rng.integers(1, n_items + 1, size=(len(todo), width))
        keys = todo[:, None] * (n_items + 1) + draw
        pos = np.searchsorted(seen, keys).clip(max=len(seen) - 1)
        valid = seen[pos] != keys
        order = np.argsort(draw, axis=1, kind="stable")
        ordered = np.take_along_axis(draw, order, axis=1)
        repeat = np.zeros_like(valid)
        repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        np.put_along_axis(valid, order, np.take_along_axis(valid, order, axis=1) & ~repeat, axis=1)
        taken = valid & (np.cumsum(valid, axis=1) <= n)
        done = taken.sum(axis=1) == n
        out[todo[done]] = draw[done][taken[done]].reshape(-1, n)
        todo = todo[~done]
        width *= 2
    return out


def popularity_model_ranks(
    train_counts: np.ndarray, sequences: Sequence[np.ndarray], negatives: np.ndarray
) -> dict[str, np.ndarray]:
    """Ranks under both protocols for a most-popular baseline (scores = training counts)."""
    scores_all = torch.from_numpy(train_counts.astype(np.float64))
    _, targets = split_inputs(sequences, "test", 1)
    valid = history_mask(sequences, len(train_counts) - 1, 1)
    valid[torch.arange(len(targets)), torch.from_numpy(targets)] = True
    scores = scores_all.expand(len(targets), -1)
    full = ranks_from_scores(scores, scores_all[targets], valid).numpy()
    candidates = torch.from_numpy(np.concatenate([targets[:, None], negatives], axis=1))
    sampled_scores = scores_all[candidates]
    sampled = ranks_from_scores(sampled_scores, sampled_scores[:, 0]).numpy()
    return {"full": full, f"uni{negatives.shape[1]}": sampled}


def negatives_to_file(
    sequences_path: str | Path, items_path: str | Path, out: str | Path, n: int, seed: int
) -> None:
    """Draw a domain's shared sampled-protocol negatives once, aligned with sequences.parquet."""
    n_items = pq.read_metadata(items_path).num_rows
    sequences = load_sequences(sequences_path)
    try:
        negatives = sample_eval_negatives(sequences, n_items, n, seed)
    except ValueError as exc:
        raise InputError(f"{sequences_path}: {exc}") from exc
    users = pq.read_table(sequences_path, columns=["user_id"])["user_id"]
    offsets = pa.array(np.arange(0, negatives.size + 1, n, dtype=np.int32))
    table = pa.table(
        {
            "user_id": users,
            "negatives": pa.ListArray.from_arrays(
                offsets, pa.array(negatives.reshape(-1), pa.int32())
            ),
        }
    )
    write_parquet(table, out, {"n": n, "seed": seed, "sequences": str(sequences_path)})


def load_negatives(path: str | Path) -> np.ndarray:
    column = pq.read_table(path, columns=["negatives"])["negatives"].combine_chunks()
    n = read_parquet_metadata(path)["n"]
    return column.values.to_numpy().astype(np.int64).reshape(-1, n)


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
    embeddings_path: str | Path,
    negatives_path: str | Path,
    out: str | Path,
    labels: dict[str, Any],
    ks: Sequence[int],
    batch_size: int = 1024,
    log: Callable[[str], None] = print,
    device: str = "cpu",
) -> dict[str, Any]:
    """Score every target user with a source model and the target's embeddings (no training)."""
    config = read_json(config_path)
    model = load_model(model_path, config["architecture"]).to(device)
    model.items.set_table(torch.from_numpy(load_embeddings(embeddings_path)))
    zero_shot = labels["target"] != labels["source"]
    model.use_patterns = zero_shot and model.patterns is not None
    sequences = load_sequences(sequences_path)
    negatives = load_negatives(negatives_path)
    inputs, _ = split_inputs(sequences, "test", model.max_items)
    users = user_vectors(model, inputs, batch_size)
    ranks = {
        "full": rank_full(model, sequences, "test", batch_size, users=users),
        f"uni{negatives.shape[1]}": rank_sampled(
            model, sequences, negatives, batch_size, users=users
        ),
    }
    result = {
        **labels,
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
    negatives = load_negatives(negatives_path)
    ranks = popularity_model_ranks(counts, sequences, negatives)
    result = {**labels, "users": len(sequences), "items": n_items, "metrics": _rows(ranks, ks)}
    write_json(result, out)
    return result
