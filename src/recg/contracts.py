"""Checks that a stage's inputs belong together, so a mismatch fails instead of giving wrong numbers.

Embeddings must hold one row per item of their domain, in `item_idx` order; a trained model must
have been trained under the settings its evaluation asks for; negatives must cover the domain's
users. Every refusal names both files and what differs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from recg.errors import InputError
from recg.settings import flat_settings

_ABSENT = "(not recorded)"


def check_embeddings_match_items(
    embeddings_path: str | os.PathLike, items_path: str | os.PathLike
) -> None:
    """Refuse embeddings written for another item table (other row count or item order)."""
    embedded = pq.read_table(embeddings_path, columns=["item_idx"])["item_idx"].to_numpy()
    items = pq.read_table(items_path, columns=["item_idx"])["item_idx"].to_numpy()
    rerun = "they were made from another item table; delete the embeddings to have them remade"
    if len(embedded) != len(items):
        raise InputError(
            f"{embeddings_path} has {len(embedded)} rows but {items_path} has {len(items)} "
            f"items: {rerun}"
        )
    differ = np.flatnonzero(embedded != items)
    if len(differ):
        row = int(differ[0])
        raise InputError(
            f"{embeddings_path} and {items_path} differ in item_idx order from row {row} "
            f"({embedded[row]} vs {items[row]}): {rerun}"
        )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def setting_differences(recorded: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """'key: recorded A, asked for B' for every key of `expected` whose recorded value differs."""
    return [
        f"{key}: recorded {recorded.get(key, _ABSENT)!r}, asked for {value!r}"
        for key, value in sorted(expected.items())
        if key not in recorded or _canonical(recorded[key]) != _canonical(value)
    ]


def trained_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a model's config.json says it was trained as: source, backbone, variant, seed and
    its result settings under their dotted names."""
    settings = config.get("settings", {})
    identity = {k: settings[k] for k in ("model", "variant", "seed") if k in settings}
    recorded = {"source": config.get("source", _ABSENT), **identity}
    if "model" in settings and "backbone" in settings:
        recorded.update(flat_settings(settings))
    return recorded


def check_model_settings(
    config: Mapping[str, Any], config_path: str | os.PathLike, expected: Mapping[str, Any]
) -> None:
    """Refuse a model whose config.json records settings other than those a job asks for."""
    differ = setting_differences(trained_settings(config), expected)
    if differ:
        raise InputError(
            f"{config_path}: the model beside it was trained under other settings than this job "
            f"asks for ({'; '.join(differ)}); delete the model folder to have it retrained"
        )
