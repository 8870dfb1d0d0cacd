"""The shared model: frozen LLM item table -> projections -> a sequence backbone -> dot products.

A backbone only maps projected item vectors (B, L, H) of right-padded sequences to per-position
states; everything domain-specific (the frozen table) sits in `ItemEncoder`, so swapping in a target
domain's embeddings keeps every trained weight.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from recg.objectives import OBJECTIVES
from recg.whitening import transform_table


class SequenceBackbone(nn.Module):
    """Interface of a sequence encoder; subclasses register themselves in `recg.models`."""

    #: what the backbone is trained to predict: a key of `recg.objectives.OBJECTIVES`
    objective: ClassVar[str] = "next_item"

    def __init__(self, hidden: int, max_len: int, dropout: float, **params) -> None:
        super().__init__()
        self.hidden = hidden
        self.max_len = max_len

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """(B, L, H) item vectors with zeros after each row's length -> (B, L, H) states."""
        raise NotImplementedError

    def states_at(self, x: Tensor, lengths: Tensor, positions: Tensor) -> Tensor:
        """(B, H) states at one position per row (a user's read-out), where no later position
        is needed; a backbone may skip work the other positions would cost."""
        return self(x, lengths)[torch.arange(x.shape[0], device=x.device), positions]


def recency_positions(lengths: Tensor, width: int) -> Tensor:
    """Position 0 for the most recent item, counting back; padding positions get 0 too."""
    steps = torch.arange(width, device=lengths.device).unsqueeze(0)
    return (lengths.unsqueeze(1) - 1 - steps).clamp(min=0)


class ItemEncoder(nn.Module):
    """W_p (and, for -RecG, W_a merged in) over a frozen, swappable table of LLM embeddings.

    `table_transform` (center, whiten) is applied to every table installed, with that table's own
    statistics: the source's in training, each target's at zero-shot inference.
    """

    def __init__(
        self,
        llm_dim: int,
        hidden: int,
        dropout: float,
        align: bool,
        table_transform: str = "none",
        whiten_eps: float = 0.0,
        merge_candidates: bool = False,
    ) -> None:
        super().__init__()
        if merge_candidates and not align:
            raise ValueError("merged candidates need the alignment projection W_a (align)")
        self.table_transform = table_transform
        self.whiten_eps = whiten_eps
        self.proj = nn.Linear(llm_dim, hidden)
        self.align = nn.Linear(llm_dim, hidden) if align else None
        self.merge = nn.Linear(2 * hidden, hidden) if align else None
        self.merge_candidates = merge_candidates
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("table", torch.zeros(1, llm_dim), persistent=False)
        self._input_table: Tensor | None = None

    def set_table(self, embeddings: Tensor) -> None:
        """Install a domain's (N+1, llm_dim) embeddings; row 0 is padding."""
        if embeddings.shape[1] != self.proj.in_features:
            raise ValueError(
                f"embedding dimension {embeddings.shape[1]} != model's {self.proj.in_features}"
            )
        self.table = self.prepared(embeddings).to(self.proj.weight.device, torch.float32)

    def prepared(self, embeddings: Tensor) -> Tensor:
        """A domain's (N+1, llm_dim) table after this model's table transform (if any)."""
        if self.table_transform == "none":
            return embeddings
        table = embeddings.detach().cpu().numpy()
        done = transform_table(table, self.table_transform, self.whiten_eps)
        return torch.from_numpy(done).to(embeddings.device)

    @property
    def n_items(self) -> int:
        return self.table.shape[0] - 1

    def outputs(self, ids: Tensor | None = None) -> Tensor:
        """Candidate vectors (all items, or the given ids): W_p e, or the merged vectors when
        candidates are merged too (`recg.merge: inputs_and_candidates`)."""
        raw = self.table if ids is None else self.table[ids]
        return self.merged(raw) if self.merge_candidates else self.proj(raw)

    def merged(self, raw: Tensor) -> Tensor:
        """merge([W_p e; W_a e]) of raw LLM rows, without dropout."""
        return self.merge(torch.cat([self.proj(raw), self.align(raw)], dim=-1))

    @contextmanager
    def gathered_inputs(self) -> Iterator[None]:
        """Inference over many batches: every item's sequence-side vector is computed once and
        each batch gathers its rows, instead of projecting each batch's distinct items again
        (most of a catalogue recurs across the batches of a domain's users)."""
        if self.training:
            yield
            return
        with torch.no_grad():
            table = self.merged(self.table) if self.merge is not None else self.proj(self.table)
        self._input_table = table
        try:
            yield
        finally:
            self._input_table = None

    def inputs(self, seqs: Tensor) -> Tensor:
        """Sequence-side vectors; padding positions are zero.

        Each distinct item is projected once and then gathered: a batch of long sequences repeats
        items, and gathering 384- or 4096-d raw rows per position dominated the cost.
        """
        if self._input_table is not None:
            return self._input_table[seqs] * (seqs > 0).unsqueeze(-1)
        ids, where = torch.unique(seqs, return_inverse=True)
        raw = self.table[ids]
        x = self.dropout(self.proj(raw)[where])
        if self.merge is not None:
            x = self.merge(torch.cat([x, self.dropout(self.align(raw)[where])], dim=-1))
        return x * (seqs > 0).unsqueeze(-1)

    def aligned(self, ids: Tensor, table: Tensor | None = None, merged: bool = False) -> Tensor:
        """W_a e (or, with `merged`, the merged vectors) for items of this or another domain's
        table: what the generalisation loss acts on (`recg.loss_on`)."""
        raw = (self.table if table is None else table)[ids]
        return self.merged(raw) if merged else self.align(raw)


class PatternFusion(nn.Module):
    """Sequence-level generalisation: attend over source patterns, fuse with W_f (Eq. 17-21)."""

    def __init__(self, hidden: int, clusters: int) -> None:
        super().__init__()
        self.register_buffer("centroids", torch.zeros(clusters, hidden))
        self.fuse = nn.Linear(2 * hidden, hidden)
        with torch.no_grad():
            self.fuse.weight.zero_()
            self.fuse.weight[:, :hidden] = torch.eye(hidden)
            self.fuse.bias.zero_()

    def forward(self, users: Tensor) -> Tensor:
        sim = F.normalize(users, dim=-1) @ F.normalize(self.centroids, dim=-1).T
        pattern = torch.softmax(sim, dim=-1) @ self.centroids
        return self.fuse(torch.cat([users, pattern], dim=-1))


class Recommender(nn.Module):
    """Backbone + item encoder (+ mask token for cloze backbones, + pattern fusion for SG)."""

    def __init__(
        self,
        backbone: SequenceBackbone,
        llm_dim: int,
        dropout: float,
        align: bool = False,
        clusters: int = 0,
        table_transform: str = "none",
        whiten_eps: float = 0.0,
        merge_candidates: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        hidden = backbone.hidden
        self.items = ItemEncoder(
            llm_dim, hidden, dropout, align, table_transform, whiten_eps, merge_candidates
        )
        self.objective = OBJECTIVES[backbone.objective]
        self.mask_token = (
            nn.Parameter(torch.randn(hidden) * 0.02) if self.objective.mask_token else None
        )
        self.patterns = PatternFusion(hidden, clusters) if clusters else None
        self.use_patterns = False

    @property
    def device(self) -> torch.device:
        return self.items.proj.weight.device

    @property
    def max_items(self) -> int:
        """Most history items a user state can see (cloze backbones keep one slot for the mask)."""
        return self.backbone.max_len - self.objective.reserved_slots

    def states(self, seqs: Tensor, masked: Tensor | None = None) -> Tensor:
        """Per-position states of right-padded item ids; `masked` positions get the mask token."""
        lengths = (seqs > 0).sum(dim=1)
        x = self.items.inputs(seqs)
        if masked is not None:
            x = torch.where(masked.unsqueeze(-1), self.mask_token.expand_as(x), x)
        return self.backbone(x, lengths)

    def user_vectors(self, seqs: Tensor) -> Tensor:
        """One state per user from its (right-padded) history; the next item is scored against it."""
        users = self.objective.read_out(self, seqs)
        if self.use_patterns and self.patterns is not None:
            users = self.patterns(users)
        return users

    def score_all(self, users: Tensor) -> Tensor:
        return users @ self.items.outputs().T

    def score(self, users: Tensor, candidates: Tensor) -> Tensor:
        return torch.einsum("bh,bch->bc", users, self.items.outputs(candidates))
