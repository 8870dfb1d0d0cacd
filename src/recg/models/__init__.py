"""Backbone registry: adding a backbone is one module plus one entry here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from recg.errors import InputError
from recg.io import read_json
from recg.models.base import PatternFusion, Recommender, SequenceBackbone
from recg.models.bert4rec import BERT4Rec
from recg.models.gru4rec import GRU4Rec
from recg.models.sasrec import SASRec

BACKBONES: dict[str, type[SequenceBackbone]] = {
    "gru4rec": GRU4Rec,
    "sasrec": SASRec,
    "bert4rec": BERT4Rec,
}

__all__ = [
    "BACKBONES",
    "PatternFusion",
    "Recommender",
    "SequenceBackbone",
    "build_model",
    "load_model",
    "load_trained",
]


def build_model(
    name: str,
    llm_dim: int,
    hidden: int,
    max_len: int,
    dropout: float,
    align: bool = False,
    clusters: int = 0,
    table_transform: str = "none",
    whiten_eps: float = 0.0,
    merge_candidates: bool = False,
    **params,
) -> Recommender:
    if name not in BACKBONES:
        raise KeyError(f"unknown model '{name}' (known: {', '.join(BACKBONES)})")
    backbone = BACKBONES[name](hidden=hidden, max_len=max_len, dropout=dropout, **params)
    return Recommender(
        backbone,
        llm_dim,
        dropout,
        align=align,
        clusters=clusters,
        table_transform=table_transform,
        whiten_eps=whiten_eps,
        merge_candidates=merge_candidates,
    )


def load_model(weights: str | Path, architecture: dict[str, Any]) -> Recommender:
    """Rebuild a trained model from its state_dict and the architecture in its config.json."""
    model = build_model(**architecture)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    return model


def load_trained(
    weights: str | Path, config_path: str | Path
) -> tuple[Recommender, dict[str, Any]]:
    """A trained model and its config.json; weights that do not fit the recorded architecture
    (another backbone, hidden size or variant) are refused naming both files."""
    config = read_json(config_path)
    try:
        return load_model(weights, config["architecture"]), config
    except (KeyError, TypeError, RuntimeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines()[1:]] or [str(exc)]
        detail = lines[0] + (f" and {len(lines) - 1} more" if len(lines) > 1 else "")
        raise InputError(
            f"{weights} does not fit the architecture recorded in {config_path} ({detail}): "
            "they come from different trainings; delete the model folder to have it retrained"
        ) from None
