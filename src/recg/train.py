"""Training from and to workflow files: the model, its sequence patterns (SG) and the files a
train job writes (model.pt, config.json, train_log.csv), with checkpoints keyed by the job."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from recg.contracts import check_embeddings_match_items
from recg.data import load_sequences
from recg.embed import embedding_metadata, load_embeddings
from recg.io import atomic_path, save_torch, write_json
from recg.models import Recommender
from recg.patterns import fit_pattern_fusion
from recg.provenance import provenance, settings_hash
from recg.settings import TrainSettings, resumable_settings
from recg.trainer import Trainer, architecture


def train(
    settings: TrainSettings,
    source: Tensor,
    sequences: Sequence[np.ndarray],
    other_domains: Sequence[Tensor] = (),
    checkpoint: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    pattern_checkpoint: str | os.PathLike | None = None,
) -> tuple[Recommender, dict[str, Any], list[dict[str, Any]]]:
    """Train a model (and its sequence patterns for SG); return it, a summary and the epoch log.

    `checkpoint` and `pattern_checkpoint` are where training and W_f's fit save and resume."""
    trainer = Trainer(settings, source, sequences, other_domains, log)
    model = trainer.fit(checkpoint)
    summary: dict[str, Any] = {
        "best_epoch": trainer.best_epoch,
        "best_val_ndcg10": trainer.best_score,
        "epochs_run": trainer.epoch,
    }
    if model.patterns is not None:
        summary["patterns"] = fit_pattern_fusion(
            model, sequences, settings, log, trainer.val_sequences, pattern_checkpoint
        )
    return model, summary, trainer.history


def _input_key(settings: TrainSettings, inputs: Sequence[str | os.PathLike]) -> str:
    """Settings plus the identity of the input files: a checkpoint resumes only the same job."""
    stamps = [(str(p), Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in inputs]
    return settings_hash({"settings": resumable_settings(settings), "inputs": stamps})


def train_to_files(
    settings: TrainSettings,
    sequences_path: str | os.PathLike,
    source_embeddings: str | os.PathLike,
    other_embeddings: Sequence[str | os.PathLike],
    model_path: str | os.PathLike,
    config_path: str | os.PathLike,
    log_path: str | os.PathLike,
    source: str,
    items_path: str | os.PathLike,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train from workflow files; write model.pt (state_dict), config.json and train_log.csv.

    The source embeddings must match `items_path` (the source's items.parquet) row for row.
    """
    check_embeddings_match_items(source_embeddings, items_path)
    sequences = load_sequences(sequences_path)
    table = torch.from_numpy(load_embeddings(source_embeddings))
    others = [torch.from_numpy(load_embeddings(p)) for p in other_embeddings]
    inputs = [sequences_path, source_embeddings, *other_embeddings]
    key = _input_key(settings, inputs)
    checkpoint = Path(model_path).parent / f"checkpoint-{key}.pt"
    pattern_checkpoint = Path(model_path).parent / f"patterns-{key}.pt"
    model, summary, history = train(
        settings, table, sequences, others, checkpoint, log, pattern_checkpoint
    )
    save_torch({k: v.cpu() for k, v in model.state_dict().items()}, model_path)
    config = {
        "source": source,
        "architecture": architecture(settings, table.shape[1]),
        "settings": asdict(settings),
        "summary": summary,
        "inputs": {
            "sequences": str(sequences_path),
            "embeddings": str(source_embeddings),
            "encoder_fingerprint": embedding_metadata(source_embeddings).get("fingerprint"),
            "generalisation_domains": [str(p) for p in other_embeddings],
        },
        "provenance": provenance(asdict(settings)),
    }
    write_json(config, config_path)
    with atomic_path(log_path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    checkpoint.unlink(missing_ok=True)
    pattern_checkpoint.unlink(missing_ok=True)
    return summary
