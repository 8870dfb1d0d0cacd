"""Tiny training inputs (walks through a small catalogue, random item embeddings), in memory and as
the Parquet files the workflow's training reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

N_ITEMS, LLM_DIM = 24, 8


def walks(n_users: int = 48, seed: int = 0) -> list[np.ndarray]:
    """Walks through the catalogue (item i tends to follow i - 1), 5 to 12 items long."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_users):
        start = rng.integers(1, N_ITEMS + 1)
        steps = rng.choice([1, 1, 1, 2], size=rng.integers(5, 13))
        out.append(((start + np.cumsum(steps) - 1) % N_ITEMS + 1).astype(np.int64))
    return out


def item_table(n_items: int = N_ITEMS, seed: int = 0) -> torch.Tensor:
    table = torch.randn(n_items + 1, LLM_DIM, generator=torch.Generator().manual_seed(seed))
    table[0] = 0
    return table


def write_training_inputs(folder: Path) -> tuple[Path, list[Path]]:
    """sequences.parquet, the source's items.parquet beside it, and the source's and two other
    domains' embeddings, as train_to_files reads them; returns (sequences, [source, other, other])."""
    folder.mkdir(parents=True, exist_ok=True)
    seqs = walks()
    seq_path = folder / "sequences.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": [f"u{i}" for i in range(len(seqs))],
                "item_seq": pa.array([s.tolist() for s in seqs], pa.list_(pa.int64())),
            }
        ),
        seq_path,
    )
    emb_paths = []
    for name, n in (("source", N_ITEMS), ("a", 10), ("b", 12)):
        table = item_table(n, seed=len(name) + n).numpy()
        path = folder / f"{name}.parquet"
        pq.write_table(
            pa.table(
                {
                    "item_idx": np.arange(1, n + 1, dtype=np.int64),
                    "embedding": pa.array(list(table[1:]), pa.list_(pa.float32(), LLM_DIM)),
                }
            ),
            path,
        )
        emb_paths.append(path)
    items = pa.table({"item_idx": np.arange(1, N_ITEMS + 1, dtype=np.int32)})
    pq.write_table(items, folder / "items.parquet")
    return seq_path, emb_paths
