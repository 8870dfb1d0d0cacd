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
    matrix = column.flatten().to_numpy().astype(np.int64).reshape(-1, n)
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
