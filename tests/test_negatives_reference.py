"""The chunked negatives sampler draws exactly what the original whole-matrix sampler drew.

Published sampled-protocol results depend on the negatives files, so a faster sampler must
consume the generator in the same order and keep the same draws; `reference` is the original.
"""

import numpy as np
import pytest

import recg.negatives
from recg.negatives import sample_eval_negatives


def reference(sequences, n_items, n, seed):
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


def domain(n_users, n_items, low, high, seed, repeats=False):
    """Random sequences of low..high items (with repeated items when `repeats`)."""
    rng = np.random.default_rng(seed)
    items = np.arange(1, n_items + 1)
    return [
        rng.choice(items, size=rng.integers(low, high + 1), replace=repeats) for _ in range(n_users)
    ]


CASES = {
    "short users, many items": (domain(700, 5000, 3, 20, 0), 5000, 100),
    "repeated items": (domain(400, 300, 3, 40, 1, repeats=True), 300, 50),
    # users one item short of the limit: most rows need several, wider rounds
    "long users near the limit": (
        domain(120, 260, 3, 159, 2) + domain(5, 260, 159, 159, 3),
        260,
        100,
    ),
    "few items, small n": (domain(300, 12, 3, 6, 4), 12, 5),
    "one user": ([np.array([3, 1, 2])], 9, 6),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("chunk", [1 << 20, 700])
def test_same_draws_as_the_original_sampler(name, chunk, monkeypatch):
    monkeypatch.setattr(recg.negatives, "CHUNK_DRAWS", chunk)  # 700 draws: chunks of a few rows
    sequences, n_items, n = CASES[name]
    for seed in (0, 2025):
        expected = reference(sequences, n_items, n, seed)
        got = sample_eval_negatives(sequences, n_items, n, seed)
        assert got.shape == expected.shape
        assert np.array_equal(got, expected)


def test_long_users_needed_several_rounds():
    sequences, n_items, n = CASES["long users near the limit"]
    draws = np.random.default_rng(0).integers(1, n_items + 1, size=(len(sequences), 2 * n))
    distinct_outside = [len(set(row) - set(seq)) for row, seq in zip(draws, sequences, strict=True)]
    assert min(distinct_outside) < n  # so the comparison above covered redrawn, wider rows


@pytest.mark.parametrize(
    ("sequences", "n_items", "n"),
    [([np.array([1, 2, 3]), np.array([4, 5, 6, 7, 7])], 103, 100), ([np.arange(1, 60)], 150, 92)],
)
def test_same_error_as_the_original_sampler(sequences, n_items, n):
    with pytest.raises(ValueError) as expected:
        reference(sequences, n_items, n, 0)
    with pytest.raises(ValueError, match=f"cannot draw {n} negatives") as got:
        sample_eval_negatives(sequences, n_items, n, 0)
    assert str(got.value) == str(expected.value)
