"""Semantic-bias diagnostics of an encoder's tables, to CSV, and the parts a model's
diagnostics share.

Encoder and models use the same fixed-seed sample of each domain's items, so their rows are
comparable. Nothing here imports torch (`recg.model_bias` does the models).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recg.diagnostics import bias_rows, sample_rows
from recg.embed import load_embeddings
from recg.errors import ConfigError
from recg.io import write_csv
from recg.whitening import transform_table

Paths = Mapping[str, str | os.PathLike]

#: encoder spaces: the raw tables, and the tables sem-center and sem-whiten's models read
ENCODER_SPACES = {"llm": "none", "llm-centred": "center", "llm-whitened": "whiten"}


@dataclass(frozen=True)
class BiasSettings:
    """The `diagnostics` config keys the metrics use."""

    per_domain: int = 2000
    folds: int = 5
    neighbours: int = 10
    seed: int = 0


def load_tables(embeddings: Paths) -> dict[str, np.ndarray]:
    """Domain -> its (N+1, dim) embedding table."""
    return {domain: load_embeddings(path) for domain, path in sorted(embeddings.items())}


def sample_items(tables: Mapping[str, np.ndarray], settings: BiasSettings) -> dict[str, np.ndarray]:
    """Domain -> the 0-based rows diagnosed; settings that cannot work are a ConfigError."""
    counts = {domain: table.shape[0] - 1 for domain, table in tables.items()}
    if len(counts) < 2:
        raise ConfigError(f"domain bias needs at least two domains, got {', '.join(counts)}")
    sampled = {d: min(n, settings.per_domain) for d, n in counts.items()}
    domain, smallest = min(sampled.items(), key=lambda item: item[1])
    if smallest < settings.folds:
        raise ConfigError(
            f"config key 'diagnostics.folds': {settings.folds} folds need as many sampled items "
            f"per domain; {domain} has {smallest}"
        )
    if sum(sampled.values()) <= settings.neighbours:
        raise ConfigError(
            f"config key 'diagnostics.neighbours': {settings.neighbours} neighbours need more "
            "sampled items than that"
        )
    return sample_rows(counts, settings.per_domain, settings.seed)


def write_bias(
    spaces: Mapping[str, Mapping[str, np.ndarray]],
    settings: BiasSettings,
    labels: Mapping[str, Any],
    out: str | os.PathLike,
) -> pd.DataFrame:
    """One CSV row per space: `labels`, then the metrics."""
    rows = bias_rows(spaces, settings.folds, settings.neighbours, settings.seed)
    frame = pd.DataFrame([{**labels, **row} for row in rows])
    write_csv(frame, out)
    return frame


def encoder_bias_to_file(
    embeddings: Paths,
    out: str | os.PathLike,
    settings: BiasSettings,
    whiten_eps: float,
    labels: Mapping[str, Any],
) -> pd.DataFrame:
    """One row per encoder space (ENCODER_SPACES); a transform uses each domain's whole table."""
    tables = load_tables(embeddings)
    rows = sample_items(tables, settings)
    spaces = {
        space: {
            d: transform_table(t, transform, whiten_eps)[1:][rows[d]] for d, t in tables.items()
        }
        for space, transform in ENCODER_SPACES.items()
    }
    return write_bias(spaces, settings, labels, out)
