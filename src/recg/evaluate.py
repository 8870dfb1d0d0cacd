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

CUT = {"test": 1, "valid": 2}  # a split's target is the item this far from the end


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


def flatten(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated items and CSR offsets: row i is values[offsets[i]:offsets[i + 1]]."""
    lengths = np.fromiter(map(len, sequences), np.int64, len(sequences))
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate(sequences).astype(np.int64) if len(sequences) else np.empty(0, np.int64)
    return values, offsets


def gather_windows(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Right-padded rows values[starts[i]:ends[i]] (0 = padding)."""
    lengths = ends - starts
    width = max(int(lengths.max(initial=0)), 1)
    steps = np.arange(width)
    index = np.clip(starts[:, None] + steps, 0, max(len(values) - 1, 0))
    filled = steps < lengths[:, None]
    return np.where(filled, values[index] if len(values) else 0, 0)


def split_inputs(
    sequences: Sequence[np.ndarray], split: str, max_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded inputs (last `max_items` items before the target) and targets of a split."""
    values, offsets = flatten(sequences)
    end = offsets[1:] - CUT[split]
    inputs = gather_windows(values, np.maximum(offsets[:-1], end - max_items), end)
    return inputs, values[end]


def pad(rows: Sequence[np.ndarray], width: int | None = None) -> np.ndarray:
    """Right-padded matrix of the last `width` items of each row (default: the longest row)."""
    values, offsets = flatten(rows)
    starts = offsets[:-1] if width is None else np.maximum(offsets[:-1], offsets[1:] - width)
    out = gather_windows(values, starts, offsets[1:])
    if width is not None and out.shape[1] < width:
        out = np.pad(out, ((0, 0), (0, width - out.shape[1])))
    return out


def history_pairs(
    values: np.ndarray, starts: np.ndarray, ends: np.ndarray, targets: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (row, item) pairs of each row's history values[starts:ends], targets excluded."""
    lengths = ends - starts
    rows = np.repeat(np.arange(len(starts)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    items = values[np.arange(len(rows)) - first + np.repeat(starts, lengths)]
    keys = np.unique(rows * (n_items + 1) + items)
    rows, items = np.divmod(keys, n_items + 1)
    keep = items != targets[rows]
    return rows[keep], items[keep]


def rank_against_all(
    score_batch: Callable[[int, int], Tensor],
    sequences: Sequence[np.ndarray],
    split: str,
    n_items: int,
    batch_size: int = 1024,
) -> np.ndarray:
    """Ranks of a split's targets among all items outside each user's input history.

    `score_batch(lo, hi)` returns the (hi - lo, N + 1) scores of users lo..hi; history items are
    discounted by gathering their few scores instead of materialising a (users x items) mask.
    """
    values, offsets = flatten(sequences)
    ends = offsets[1:] - CUT[split]
    targets = values[ends]
    ranks = []
    for lo in range(0, len(sequences), batch_size):
        hi = min(lo + batch_size, len(sequences))
        scores = score_batch(lo, hi)[:, 1:]
        device = scores.device
        target = torch.from_numpy(targets[lo:hi]).to(device)
        target_scores = scores.gather(1, (target - 1)[:, None])
        ahead = (scores >= target_scores).sum(dim=1) - 1
        rows, items = history_pairs(values, offsets[lo:hi], ends[lo:hi], targets[lo:hi], n_items)
        rows_t = torch.from_numpy(rows).to(device)
        items_t = torch.from_numpy(items - 1).to(device)
        hist_ahead = scores[rows_t, items_t] >= target_scores[rows_t, 0]
        ahead -= torch.bincount(rows_t[hist_ahead], minlength=hi - lo)
        ranks.append(ahead.cpu())
    return torch.cat(ranks).numpy() if ranks else np.empty(0, np.int64)


@torch.inference_mode()
def user_vectors(model: Recommender, inputs: np.ndarray, batch_size: int = 1024) -> Tensor:
    """User states of right-padded inputs, in batches of similar length to cut padding."""
    model.eval()
    lengths = (inputs > 0).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    out = torch.empty(len(inputs), model.backbone.hidden, device=model.device)
    for lo in range(0, len(inputs), batch_size):
        rows = order[lo : lo + batch_size]
        width = max(int(lengths[rows].max()), 1)
        batch = torch.from_numpy(inputs[rows, :width]).to(model.device)
        out[torch.from_numpy(rows).to(model.device)] = model.user_vectors(batch)
    return out


@torch.inference_mode()
def rank_full(
    model: Recommender,
    sequences: Sequence[np.ndarray],
    split: str,
    batch_size: int = 1024,
    users: Tensor | None = None,
) -> np.ndarray:
    """Ranks of the split's targets among all items not in the user's input history."""
    if users is None:
        users = user_vectors(model, split_inputs(sequences, split, model.max_items)[0], batch_size)
    items = model.items.outputs()
    return rank_against_all(
        lambda lo, hi: users[lo:hi] @ items.T, sequences, split, model.items.n_items, batch_size
    )


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
    items = model.items.outputs()
    ranks = []
    for lo in range(0, len(inputs), batch_size):
        vectors = items[candidates[lo : lo + batch_size]]
        scores = torch.einsum("bh,bch->bc", users[lo : lo + batch_size], vectors)
        ranks.append(ranks_from_scores(scores, scores[:, 0]).cpu())
    return torch.cat(ranks).numpy()


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
    scores = torch.from_numpy(train_counts.astype(np.float64))
    n_items = len(train_counts) - 1
    full = rank_against_all(
        lambda lo, hi: scores.expand(hi - lo, -1), sequences, "test", n_items, batch_size=4096
    )
    _, targets = split_inputs(sequences, "test", 1)
    candidates = torch.from_numpy(np.concatenate([targets[:, None], negatives], axis=1))
    sampled_scores = scores[candidates]
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
