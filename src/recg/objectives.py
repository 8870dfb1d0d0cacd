"""Training objectives a backbone declares (`objective` on its class, `x-objective` in the schema):
next-item prediction for GRU4Rec and SASRec, the cloze task for BERT4Rec.

An objective owns what differs between them, as RecBole's `calculate_loss` does: the training
windows cut from each user's training part, which positions of a batch are scored against which
items, and where a trained model reads a user's state at inference. The trainer and the model
call it and never branch on the kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from recg.sequences import pad


def cloze_mask(
    seqs: Tensor, prob: float, generator: torch.Generator, last_prob: float = 0.0
) -> Tensor:
    """Mask each item with probability `prob`; a row with none masked gets its last item masked.

    With probability `last_prob` a row instead masks only its last item: the inference task (the
    mask appended after the history), as in BERT4Rec's extra last-item samples.
    """
    valid = seqs > 0
    draws = torch.rand((seqs.shape[0], seqs.shape[1] + 1), generator=generator).to(seqs.device)
    masked = (draws[:, 1:] < prob) & valid
    last_only = draws[:, 0] < last_prob
    masked[last_only] = False
    empty = ~masked.any(dim=1)
    last = valid.sum(dim=1) - 1
    masked[empty, last[empty]] = True
    return masked


def _training_parts(sequences: Sequence[np.ndarray], shortest: int) -> list[np.ndarray]:
    """Each user's training part (all but the last two items), if it has `shortest` items."""
    train = [s[:-2] for s in sequences if len(s) >= 2 + shortest]
    if not train:
        raise ValueError("no user has enough items for a training example")
    return train


class Objective:
    """What a backbone is trained to predict; `settings` are the job's TrainSettings."""

    name: ClassVar[str]
    #: history slots a user state gives up at inference (the cloze mask takes one)
    reserved_slots: ClassVar[int] = 0
    #: whether the model needs a learned mask token
    mask_token: ClassVar[bool] = False

    def windows(
        self, sequences: Sequence[np.ndarray], settings: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Right-padded (inputs, targets) from each user's training part; users too short to
        give one (input, target) pair are left out."""
        raise NotImplementedError

    def examples(
        self, model: Any, inputs: Tensor, targets: Tensor, generator: torch.Generator, settings: Any
    ) -> tuple[Tensor, Tensor]:
        """(states, items): the user states of a batch that are scored, and their target items."""
        raise NotImplementedError

    def read_out(self, model: Any, seqs: Tensor) -> Tensor:
        """One state per user from its right-padded history, scored against the next item."""
        raise NotImplementedError


class NextItem(Objective):
    """Targets are the inputs shifted by one, at every position (`train.objective: all`) or the
    last only (`last`); a user's state is the backbone's output at its last item."""

    name = "next_item"

    def windows(
        self, sequences: Sequence[np.ndarray], settings: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        train = _training_parts(sequences, 2)
        width = settings.max_len
        if settings.objective == "last":
            inputs = pad([t[:-1][-width:] for t in train], width)
            targets = np.zeros_like(inputs)
            lengths = (inputs > 0).sum(axis=1)
            targets[np.arange(len(train)), lengths - 1] = [t[-1] for t in train]
            return inputs, targets
        windows = [t[-(width + 1) :] for t in train]
        return pad([w[:-1] for w in windows], width), pad([w[1:] for w in windows], width)

    def examples(
        self, model: Any, inputs: Tensor, targets: Tensor, generator: torch.Generator, settings: Any
    ) -> tuple[Tensor, Tensor]:
        positions = targets > 0
        return model.states(inputs)[positions], targets[positions]

    def read_out(self, model: Any, seqs: Tensor) -> Tensor:
        lengths = (seqs > 0).sum(dim=1)
        return model.backbone.states_at(model.items.inputs(seqs), lengths, lengths - 1)


class Cloze(Objective):
    """Inputs are the window itself; items masked per batch (`train.mask_prob`,
    `train.mask_last_prob`) are the targets. At inference a mask token is appended after the
    history and its state is the user's."""

    name = "cloze"
    reserved_slots = 1
    mask_token = True

    def windows(
        self, sequences: Sequence[np.ndarray], settings: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        windows = pad(
            [t[-settings.max_len :] for t in _training_parts(sequences, 1)], settings.max_len
        )
        return windows, windows

    def examples(
        self, model: Any, inputs: Tensor, targets: Tensor, generator: torch.Generator, settings: Any
    ) -> tuple[Tensor, Tensor]:
        masked = cloze_mask(inputs, settings.mask_prob, generator, settings.mask_last_prob)
        return model.states(inputs, masked)[masked], targets[masked]

    def read_out(self, model: Any, seqs: Tensor) -> Tensor:
        lengths = (seqs > 0).sum(dim=1)
        rows = torch.arange(seqs.shape[0], device=seqs.device)
        seqs = torch.cat([seqs, torch.zeros_like(seqs[:, :1])], dim=1)
        x = model.items.inputs(seqs)
        x[rows, lengths] = model.mask_token
        return model.backbone.states_at(x, lengths + 1, lengths)


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (NextItem(), Cloze())}
