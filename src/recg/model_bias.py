"""Semantic-bias diagnostics of a trained model's item spaces, to CSV."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from recg.bias_jobs import BiasSettings, Paths, load_tables, sample_items, write_bias
from recg.spaces import model_spaces


def model_bias_to_file(
    model_path: str | os.PathLike,
    config_path: str | os.PathLike,
    embeddings: Paths,
    out: str | os.PathLike,
    settings: BiasSettings,
    labels: Mapping[str, Any],
) -> pd.DataFrame:
    """One row per space of a trained model (`recg.spaces.model_spaces`)."""
    tables = load_tables(embeddings)
    spaces = model_spaces(model_path, config_path, tables, sample_items(tables, settings))
    return write_bias(spaces, settings, labels, out)
