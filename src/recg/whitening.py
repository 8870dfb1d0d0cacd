"""Training-free removal of a domain's semantic signature from its frozen embedding table.

Each domain's table is centred (or ZCA-whitened) with statistics of its own items only, so the
source table in training and each target table at zero-shot inference are treated alike and no
domain ever sees another's items. Row 0 (padding) stays zero.
"""

from __future__ import annotations

import numpy as np

TRANSFORMS = ("none", "center", "whiten")


def center(items: np.ndarray) -> np.ndarray:
    """(n, d) items minus their mean."""
    items = np.asarray(items, np.float64)
    return items - items.mean(axis=0, keepdims=True)


def whiten(items: np.ndarray, eps: float) -> np.ndarray:
    """ZCA whitening of (n, d) items: centred, then covariance C -> (C + eps I)^(-1/2) C.

    `eps` is relative to the mean variance per dimension (trace(C) / d), so it does not depend on
    the encoder's scale. With fewer items than dimensions the covariance has rank < d; the
    whitening is then done in the items' span via the (n, n) Gram matrix, which gives the same
    vectors at a fraction of the cost (directions outside the span carry no item variance).
    """
    x = center(items)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"whitening needs at least 2 items, got {n}")
    if n > d:
        values, vectors = np.linalg.eigh(x.T @ x / n)
        scale = _inverse_sqrt(values, eps, d)
        return (x @ vectors) * scale @ vectors.T
    values, vectors = np.linalg.eigh(x @ x.T / n)
    scale = _inverse_sqrt(values, eps, d)
    return (vectors * scale) @ (vectors.T @ x)


def _inverse_sqrt(values: np.ndarray, eps: float, dims: int) -> np.ndarray:
    values = np.clip(values, 0.0, None)
    floor = eps * values.sum() / dims
    if floor <= 0:
        raise ValueError("cannot whiten: the items have no variance (or eps is 0)")
    return 1.0 / np.sqrt(values + floor)


def transform_table(table: np.ndarray, transform: str, eps: float) -> np.ndarray:
    """A (N+1, d) table with padding row 0, transformed over its items; float32 like the input."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown table transform {transform!r} (known: {', '.join(TRANSFORMS)})")
    if transform == "none":
        return table
    items = table[1:]
    done = center(items) if transform == "center" else whiten(items, eps)
    out = np.zeros_like(table, dtype=np.float32)
    out[1:] = done
    return out
