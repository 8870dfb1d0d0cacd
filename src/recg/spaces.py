"""Item vectors of every domain in a trained model's input space, for the embedding map.

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
def input_vectors(
    model_path: str | os.PathLike, config_path: str | os.PathLike, tables: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Domain -> (items, hidden) input-side vectors of a trained model (padding row dropped)."""
    model, _ = load_trained(model_path, config_path)
    out = {}
    for domain, table in tables.items():
        model.items.set_table(torch.from_numpy(table))
        ids = torch.arange(1, table.shape[0]).unsqueeze(1)
        out[domain] = model.items.inputs(ids)[:, 0].numpy()
    return out


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
