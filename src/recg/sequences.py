"""Leave-one-out cuts and padding shared by training and evaluation.

A user's sequence ends with the validation item, then the test item; a split's target is the item
`CUT[split]` from the end and its input is everything before it, right-padded with 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CUT = {"test": 1, "valid": 2}  # a split's target is the item this far from the end


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
