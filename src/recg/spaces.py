"""Item vectors of every domain in a trained model's spaces, for the embedding map and the
semantic-bias diagnostics.

A model's input-side item vector is what its backbone reads: W_p e for -Sem, the merge of W_p e
and W_a e for -RecG. Computed with each domain's own frozen table, as at zero-shot inference.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch

from recg.contracts import check_embeddings_match_items
from recg.embed import load_embeddings
from recg.models import load_trained


@torch.inference_mode()
def model_spaces(
    model_path: str | os.PathLike,
    config_path: str | os.PathLike,
    tables: Mapping[str, np.ndarray],
    rows: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Space -> domain -> vectors of the items at 0-based `rows` (default: all).

    Spaces: `llm`, the frozen table as the model reads it (after sem-center's or sem-whiten's
    transform, which uses the domain's whole table); `W_p`, the projection W_p e; and for -RecG
    `W_a`, the aligned projection W_a e, and `merged`, what its backbone reads.
    """
    model, _ = load_trained(model_path, config_path)
    items = model.items
    out: dict[str, dict[str, np.ndarray]] = {}
    for domain, table in tables.items():
        items.set_table(torch.from_numpy(table))
        picked = np.arange(items.n_items) if rows is None else np.asarray(rows[domain])
        ids = torch.from_numpy(picked + 1)
        vectors = {"llm": items.table[ids], "W_p": items.proj(items.table[ids])}
        if items.align is not None:
            vectors["W_a"] = items.aligned(ids)
            vectors["merged"] = items.inputs(ids.unsqueeze(1))[:, 0]
        for space, found in vectors.items():
            out.setdefault(space, {})[domain] = found.numpy()
    return out


def input_vectors(
    model_path: str | os.PathLike, config_path: str | os.PathLike, tables: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Domain -> (items, hidden) input-side vectors of a trained model (padding row dropped)."""
    spaces = model_spaces(model_path, config_path, tables)
    return spaces["merged"] if "merged" in spaces else spaces["W_p"]


def item_spaces(
    embeddings: Mapping[str, str | os.PathLike],
    items: Mapping[str, str | os.PathLike],
    models: Mapping[str, tuple[str | os.PathLike, str | os.PathLike]],
) -> dict[str, dict[str, np.ndarray]]:
    """Panel -> domain -> vectors: the raw LLM embeddings, then each model's input space.

    `items` holds each domain's items.parquet, which its embeddings must match row for row.
    """
    for domain, path in embeddings.items():
        check_embeddings_match_items(path, items[domain])
    tables = {domain: load_embeddings(path) for domain, path in sorted(embeddings.items())}
    spaces = {"raw LLM embeddings": {d: t[1:] for d, t in tables.items()}}
    for panel, (weights, config) in models.items():
        spaces[panel] = input_vectors(weights, config, tables)
    return spaces
