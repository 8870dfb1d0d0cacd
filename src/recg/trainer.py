"""The training loop: one model on its source domain, with the objective its backbone declares,
the -RecG generalisation loss, early stopping on source validation NDCG@10 (best state kept) and a
per-epoch checkpoint a killed job resumes from.
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from recg.contracts import setting_differences
from recg.errors import InputError
from recg.io import save_torch
from recg.losses import (
    REC_LOSSES,
    GeneralisationWeights,
    generalisation_loss,
    sample_negatives,
    warn_if_degenerate,
)
from recg.models import Recommender, build_model
from recg.progress import progress
from recg.ranking import validation_ndcg
from recg.settings import TrainSettings, resumable_settings


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def architecture(settings: TrainSettings, llm_dim: int) -> dict[str, Any]:
    """Constructor arguments of the model, stored in config.json so evaluation can rebuild it."""
    parts = settings.variant_parts
    return {
        "name": settings.model,
        "llm_dim": llm_dim,
        "hidden": settings.hidden,
        "max_len": settings.max_len,
        "dropout": settings.dropout,
        "align": parts.align,
        "clusters": settings.clusters if parts.patterns else 0,
        "table_transform": parts.table,
        "whiten_eps": settings.whiten_eps if parts.whiten else 0.0,
        "merge_candidates": parts.align and settings.merge == "inputs_and_candidates",
        **settings.backbone,
    }


def new_model(settings: TrainSettings, llm_dim: int) -> Recommender:
    return build_model(**architecture(settings, llm_dim))


class Trainer:
    """Trains one model on the source: its objective, the -RecG generalisation loss,
    validation early stopping with a deep-copied best state, and a per-epoch checkpoint."""

    def __init__(
        self,
        settings: TrainSettings,
        source: Tensor,
        sequences: Sequence[np.ndarray],
        other_domains: Sequence[Tensor] = (),
        log: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.sequences = sequences
        self.log = log
        self.device = torch.device(settings.device)
        seed_everything(settings.seed)
        self.model = new_model(settings, source.shape[1]).to(self.device)
        self.model.items.set_table(source)
        self.other_domains = [
            self.model.items.prepared(t).to(self.device, torch.float32) for t in other_domains
        ]
        self.loss_fn = REC_LOSSES[settings.loss]
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.rng = np.random.default_rng(settings.seed)
        self.inputs, self.targets = self.model.objective.windows(sequences, settings)
        self.lengths = (self.inputs > 0).sum(axis=1)
        parts = settings.variant_parts
        self.weights = GeneralisationWeights(
            settings.alpha, settings.tau, parts.intra, parts.inter, settings.inter_entropy
        )
        if parts.inter:
            warn_if_degenerate(1 + len(self.other_domains))
        n_val = min(settings.val_users, len(sequences))
        pick = np.sort(np.random.default_rng(settings.seed).permutation(len(sequences))[:n_val])
        self.val_sequences = [sequences[i] for i in pick]
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.best_score = -1.0
        self.best_epoch = 0
        self.best_state = copy.deepcopy(self.model.state_dict())
        self.bad_epochs = 0

    # ------------------------------------------------------------------------------ one epoch

    def _batch_loss(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, float]:
        model, s = self.model, self.settings
        users, pos_items = model.objective.examples(model, inputs, targets, self.generator, s)
        neg_items = sample_negatives(pos_items, model.items.n_items, s.negatives, self.generator)
        ids, where = torch.unique(
            torch.cat([pos_items[:, None], neg_items], 1), return_inverse=True
        )
        vectors = model.items.outputs(ids)[where]
        pos = (users * vectors[:, 0]).sum(-1)
        neg = torch.einsum("mh,mnh->mn", users, vectors[:, 1:])
        loss = self.loss_fn(pos, neg)
        gen = 0.0
        if s.variant_parts.generalisation:
            gen_loss, _ = generalisation_loss(self._aligned_samples(), self.weights)
            loss = loss + gen_loss
            gen = float(gen_loss.detach())
        return loss, gen

    def _aligned_samples(self) -> list[Tensor]:
        n = self.settings.samples_per_domain
        tables = [self.model.items.table, *self.other_domains]
        merged = self.settings.loss_on == "merged"
        samples = []
        for table in tables:
            size = table.shape[0] - 1
            ids = torch.randperm(size, generator=self.generator)[: min(n, size)] + 1
            samples.append(self.model.items.aligned(ids.to(table.device), table, merged))
        return samples

    def train_step(self, idx: np.ndarray) -> tuple[float, float]:
        """One optimiser step on the training windows `idx`; returns (loss, generalisation loss)."""
        inputs = torch.from_numpy(self.inputs[idx])
        targets = torch.from_numpy(self.targets[idx])
        width = int((inputs > 0).sum(dim=1).max())
        loss, gen = self._batch_loss(
            inputs[:, :width].to(self.device), targets[:, :width].to(self.device)
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        return float(loss.detach()), gen

    def batches(self) -> list[np.ndarray]:
        """One epoch's batches of training-window indices, in a fresh random order.

        Windows are shuffled, cut into pools of `length_pool` batches, sorted by length within a
        pool, then batched, and the batches shuffled: each batch is padded to its own longest
        window instead of nearly always to `max_len` (1 = plain random batches).
        """
        size = self.settings.batch_size
        pool = size * max(self.settings.length_pool, 1)
        order = self.rng.permutation(len(self.inputs))
        batches = []
        for lo in range(0, len(order), pool):
            chunk = order[lo : lo + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
        return [batches[i] for i in self.rng.permutation(len(batches))]

    def _steps_left(self) -> bool:
        """False once `max_steps` optimiser steps are done (checked between epochs)."""
        if self.settings.max_steps is None:
            return True
        per_epoch = -(-len(self.inputs) // self.settings.batch_size)
        return self.epoch * per_epoch < self.settings.max_steps

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        batches = self.batches()
        desc = f"epoch {self.epoch + 1}"
        steps = [self.train_step(i) for i in progress(batches, desc, len(batches), "step")]
        loss, gen = np.mean(steps, axis=0) if steps else (0.0, 0.0)
        return {"train_loss": float(loss), "gen_loss": float(gen)}

    def validate(self) -> float:
        return validation_ndcg(self.model, self.val_sequences)

    # ------------------------------------------------------------------------------ checkpoints

    def _checkpoint(self) -> dict[str, Any]:
        return {
            "settings": resumable_settings(self.settings),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "best_state": self.best_state,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "torch_rng": self.generator.get_state(),
            "numpy_rng": self.rng.bit_generator.state,
            # dropout draws from the global generators; without them a resumed run diverges
            "global_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        }

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        save_torch(self._checkpoint(), path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        if "settings" not in state:
            raise InputError(f"{path} records no settings (an older version): delete it")
        differ = setting_differences(state["settings"], resumable_settings(self.settings))
        if differ:
            raise InputError(
                f"{path} was written under other settings ({'; '.join(differ)}): delete it to "
                "train afresh"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.best_state = state["best_state"]
        self.best_score = state["best_score"]
        self.best_epoch = state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        self.history = state["history"]
        self.epoch = state["epoch"]
        self.generator.set_state(state["torch_rng"].cpu())
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["global_rng"].cpu())
        if state["cuda_rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])

    # ------------------------------------------------------------------------------ the loop

    def fit(
        self,
        checkpoint: str | os.PathLike | None = None,
        on_epoch_end: Callable[[int], None] | None = None,
    ) -> Recommender:
        """Train until patience runs out; return the model holding the best validation state."""
        s = self.settings
        if checkpoint and Path(checkpoint).exists():
            self.load_checkpoint(checkpoint)
            self.log(f"resumed from {checkpoint} after epoch {self.epoch}")
        while self.epoch < s.epochs and self.bad_epochs < s.patience and self._steps_left():
            start = time.perf_counter()
            row = self.train_epoch()
            score = self.validate()
            self.epoch += 1
            if score > self.best_score:
                self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
                self.best_state = copy.deepcopy(self.model.state_dict())
            else:
                self.bad_epochs += 1
            row = {
                "epoch": self.epoch,
                **row,
                "val_ndcg10": score,
                "seconds": time.perf_counter() - start,
            }
            self.history.append(row)
            self.log(
                f"epoch {self.epoch:3d}  loss {row['train_loss']:.4f}  gen {row['gen_loss']:+.5f}  "
                f"val NDCG@10 {score:.4f}  ({row['seconds']:.1f}s)"
            )
            if checkpoint:
                self.save_checkpoint(checkpoint)
            if on_epoch_end:
                on_epoch_end(self.epoch)
        self.model.load_state_dict(self.best_state)
        self.log(f"best epoch {self.best_epoch}: val NDCG@10 {self.best_score:.4f}")
        return self.model
