"""The sampled protocol's negatives: drawn once per (domain, user) and shared by every model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recg.data import load_sequences
from recg.errors import InputError
from recg.io import read_parquet_metadata, write_parquet
from recg.sequences import flatten

CHUNK_DRAWS = 1 << 20


def sample_eval_negatives(
    sequences: Sequence[np.ndarray], n_items: int, n: int, seed: int
) -> np.ndarray:
    """(U, n) distinct negatives per user, uniform over 1..n_items minus the user's whole sequence.

    Rejection sampling on whole rows: a row with too few valid draws is redrawn, wider. Rows are
    drawn in chunks of consecutive users, which consumes the generator exactly as one draw per
    round would, so a seed keeps giving the same negatives while memory stays bounded.
    """
    values, offsets = flatten(sequences)
    n_users = len(sequences)
    seen, counts = _distinct_history(values, offsets, n_items)
    longest = int(counts.max()) if n_users else 0
    if n_items - longest < n:
        raise ValueError(
            f"cannot draw {n} negatives: the domain has {n_items} items and a user has {longest}"
        )
    seen_offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=seen_offsets[1:])
    rng = np.random.default_rng(seed)
    out = np.zeros((n_users, n), dtype=np.int32 if n_items < 2**31 else np.int64)
    todo = np.arange(n_users)
    width = 2 * n
    while len(todo):
        left = []
        step = max(1, CHUNK_DRAWS // width)
        for lo in range(0, len(todo), step):
            rows = todo[lo : lo + step]
            draw = rng.integers(1, n_items + 1, size=(len(rows), width))
            valid = _valid_draws(draw, _chunk_history(seen, seen_offsets, rows, n_items), n_items)
            taken = valid & (np.cumsum(valid, axis=1) <= n)
            done = np.count_nonzero(taken, axis=1) == n
            out[rows[done]] = draw[done][taken[done]].reshape(-1, n)
            left.append(rows[~done])
        todo = np.concatenate(left)
        width *= 2
    return out


def _distinct_history(
    values: np.ndarray, offsets: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's distinct items, sorted, as one CSR array, and how many each user has."""
    rows = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    keys = np.sort(rows * (n_items + 1) + values)
    keys = keys[np.diff(keys, prepend=-1) != 0]
    counts = np.bincount(keys // (n_items + 1), minlength=len(offsets) - 1)
    return keys % (n_items + 1), counts


def _chunk_history(
    seen: np.ndarray, seen_offsets: np.ndarray, rows: np.ndarray, n_items: int
) -> np.ndarray:
    """Sorted keys (row within the chunk, item) of the chunk's users' histories."""
    starts, lengths = seen_offsets[rows], seen_offsets[rows + 1] - seen_offsets[rows]
    local = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    items = seen[np.arange(len(local)) - first + np.repeat(starts, lengths)]
    return local * (n_items + 1) + items


def _valid_draws(draw: np.ndarray, history: np.ndarray, n_items: int) -> np.ndarray:
    """Which draws are the first of their value in their row and miss the row's history.

    Each row is sorted once (value, column); the history's few keys are then searched among the
    sorted draws rather than every draw among the history.
    """
    n_rows, width = draw.shape
    shift = (width - 1).bit_length()
    ordered = np.sort((draw << shift) | np.arange(width), axis=1)
    values = ordered >> shift
    first = np.ones(draw.shape, dtype=bool)
    first[:, 1:] = values[:, 1:] != values[:, :-1]
    keys = (np.arange(n_rows, dtype=np.int64)[:, None] * (n_items + 1) + values).reshape(-1)
    pos = np.searchsorted(keys, history)
    inside = pos < len(keys)
    pos = pos[inside]
    first.reshape(-1)[pos[keys[pos] == history[inside]]] = False
    valid = np.empty_like(first)
    np.put_along_axis(valid, ordered & ((1 << shift) - 1), first, axis=1)
    return valid


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


def load_negatives(path: str | Path, sequences_path: str | Path) -> np.ndarray:
    """(U, n) negatives in the row order of `sequences_path`, matched by user_id.

    Refused, naming both files, when the users differ (missing, extra or repeated users) or a row
    does not hold the recorded number of negatives.
    """
    table = pq.read_table(path, columns=["user_id", "negatives"])
    n = read_parquet_metadata(path).get("n")
    column = table["negatives"].combine_chunks()
    lengths = column.value_lengths().to_numpy(zero_copy_only=False)
    if n is None or (lengths != n).any():
        raise InputError(f"{path}: rows do not all hold the recorded n={n} negatives")
    matrix = column.flatten().to_numpy().reshape(-1, n)
    ids = table["user_id"].to_pylist()
    wanted = pq.read_table(sequences_path, columns=["user_id"])["user_id"].to_pylist()
    row = {user: i for i, user in enumerate(ids)}
    missing = [u for u in wanted if u not in row]
    problems = []
    if missing:
        problems.append(f"{len(missing)} of its users are missing (e.g. {missing[:3]})")
    if extra := len(row) - (len(wanted) - len(missing)):
        problems.append(f"{extra} users are not among them")
    if repeated := len(ids) - len(row):
        problems.append(f"{repeated} users have more than one row")
    if problems:
        raise InputError(
            f"{path} does not match the users of {sequences_path}: {', '.join(problems)}; "
            "delete it to have the negatives redrawn"
        )
    return matrix[np.fromiter((row[u] for u in wanted), np.int64, len(wanted))]
