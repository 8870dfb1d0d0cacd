"""Ranking and metrics: full ranking against every item and ranking against sampled negatives.

Ties count against the model (a constant scorer ranks last), so no model gains from ties. Training
validation, SG's W_f selection and evaluation all rank through these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from recg.progress import progress
from recg.sequences import CUT, flatten, gather_windows

if TYPE_CHECKING:
    from recg.models import Recommender


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


# columns compared at a time: a (batch x 4096) block of flags stays in cache
COUNT_COLUMNS = 4096


def count_at_least(scores: Tensor, thresholds: Tensor, block: Tensor | None = None) -> Tensor:
    """Per row, how many scores are >= the row's threshold (int64).

    Flags are written as floats into one block of `COUNT_COLUMNS` columns (`block`, reused
    across calls where given) and summed: summing a fresh boolean matrix cost several times the
    comparison. Float sums of 0/1 are exact below 2**24 columns a block.
    """
    if block is None:
        block = flag_block(scores)
    total = torch.zeros(scores.shape[0], dtype=torch.int64, device=scores.device)
    for lo in range(0, scores.shape[1], COUNT_COLUMNS):
        part = scores[:, lo : lo + COUNT_COLUMNS]
        flags = torch.ge(part, thresholds, out=block[: part.shape[0], : part.shape[1]])
        total += flags.sum(dim=1).long()
    return total


def flag_block(scores: Tensor) -> Tensor:
    dtype = scores.dtype if scores.is_floating_point() else torch.float32
    columns = min(COUNT_COLUMNS, scores.shape[1])
    return torch.empty(scores.shape[0], columns, dtype=dtype, device=scores.device)


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
    block = None  # one block of flags for every batch: fresh ones grew the heap batch by batch
    starts = range(0, len(sequences), batch_size)
    for lo in progress(starts, f"ranking {split} targets", len(starts), "batch"):
        hi = min(lo + batch_size, len(sequences))
        scores = score_batch(lo, hi)[:, 1:]
        device = scores.device
        target = torch.from_numpy(targets[lo:hi]).to(device)
        target_scores = scores.gather(1, (target - 1)[:, None])
        block = flag_block(scores) if block is None else block
        ahead = count_at_least(scores, target_scores, block) - 1
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
    return _encode(model, (inputs > 0).sum(axis=1), lambda rows: inputs[rows], batch_size)


@torch.inference_mode()
def split_user_vectors(
    model: Recommender, sequences: Sequence[np.ndarray], split: str, batch_size: int = 1024
) -> Tensor:
    """`user_vectors` of a split's inputs, padded one batch at a time: the same batches and
    states, without a (users x max_items) input matrix."""
    values, offsets = flatten(sequences)
    ends = offsets[1:] - CUT[split]
    starts = np.maximum(offsets[:-1], ends - model.max_items)

    def window(rows: np.ndarray) -> np.ndarray:
        return gather_windows(values, starts[rows], ends[rows])

    return _encode(model, ends - starts, window, batch_size)


def _encode(
    model: Recommender,
    lengths: np.ndarray,
    window: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
) -> Tensor:
    model.eval()
    order = np.argsort(lengths, kind="stable")
    out = torch.empty(len(lengths), model.backbone.hidden, device=model.device)
    with model.items.gathered_inputs():
        for lo in range(0, len(lengths), batch_size):
            rows = order[lo : lo + batch_size]
            width = max(int(lengths[rows].max()), 1)
            batch = torch.from_numpy(window(rows)[:, :width]).to(model.device)
            out[torch.from_numpy(rows).to(model.device)] = model.user_vectors(batch)
    return out


def split_targets(sequences: Sequence[np.ndarray], split: str) -> np.ndarray:
    """Each user's target item under a split."""
    values, offsets = flatten(sequences)
    return values[offsets[1:] - CUT[split]]


def rank_candidates(
    score_rows: Callable[[int, int, Tensor], Tensor],
    targets: np.ndarray,
    negatives: np.ndarray,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Ranks of each target among its own negatives, one batch of users at a time.

    `score_rows(lo, hi, candidates)` scores users lo..hi's (hi - lo, 1 + n) candidate items.
    """
    ranks = []
    for lo in range(0, len(targets), batch_size):
        hi = min(lo + batch_size, len(targets))
        candidates = np.concatenate([targets[lo:hi, None], negatives[lo:hi]], axis=1)
        scores = score_rows(lo, hi, torch.from_numpy(candidates.astype(np.int64)).to(device))
        ranks.append(ranks_from_scores(scores, scores[:, 0]).cpu())
    return torch.cat(ranks).numpy() if ranks else np.empty(0, np.int64)


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
        users = split_user_vectors(model, sequences, split, batch_size)
    items = model.items.outputs()
    # one score matrix reused by every batch: a fresh one per batch cost more in page faults
    # than its matrix product
    rows = min(batch_size, len(sequences))
    block = torch.empty(rows, len(items), dtype=users.dtype, device=users.device)

    def scores(lo: int, hi: int) -> Tensor:
        return torch.mm(users[lo:hi], items.T, out=block[: hi - lo])

    return rank_against_all(scores, sequences, split, model.items.n_items, batch_size)


@torch.inference_mode()
def rank_sampled(
    model: Recommender,
    sequences: Sequence[np.ndarray],
    negatives: np.ndarray,
    batch_size: int = 1024,
    users: Tensor | None = None,
    split: str = "test",
) -> np.ndarray:
    """Ranks of the split's targets among their pre-drawn negatives (drawn outside the whole
    sequence, so they serve the validation split too)."""
    users = split_user_vectors(model, sequences, split, batch_size) if users is None else users
    items = model.items.outputs()
    return rank_candidates(
        lambda lo, hi, candidates: torch.einsum("bh,bch->bc", users[lo:hi], items[candidates]),
        split_targets(sequences, split),
        negatives,
        batch_size,
        model.device,
    )


def validation_ndcg(
    model: Recommender, sequences: Sequence[np.ndarray], users: Tensor | None = None
) -> float:
    """Source validation NDCG@10 (full ranking): what early stopping and SG's W_f are chosen on."""
    ranks = rank_full(model, sequences, "valid", users=users)
    return dict(((m, k), v) for m, k, v in metric_rows(ranks, [10]))[("ndcg", 10)]
