"""SASRec (Kang & McAuley, 2018): causal self-attention with learned (recency) positions."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recg.models.base import SequenceBackbone, recency_positions


class SASRec(SequenceBackbone):
    causal = True

    def __init__(
        self,
        hidden: int,
        max_len: int,
        dropout: float,
        layers: int = 2,
        heads: int = 2,
        ff_mult: int = 1,
        activation: str = "relu",
        **_,
    ) -> None:
        super().__init__(hidden, max_len, dropout)
        self.positions = nn.Embedding(max_len, hidden)
        # BERT-style small init: projected text vectors are small (norm ~0.3 for unit-norm LLM
        # embeddings), and N(0, 1) positions would swamp them for many epochs
        nn.init.normal_(self.positions.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            hidden,
            heads,
            dim_feedforward=ff_mult * hidden,
            dropout=dropout,
            activation=activation,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)

    def _inputs(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        width = x.shape[1]
        pad = torch.arange(width, device=x.device).unsqueeze(0) >= lengths.unsqueeze(1)
        x = self.dropout(x + self.positions(recency_positions(lengths, width)))
        mask = None
        if self.causal:
            mask = torch.triu(torch.ones(width, width, dtype=torch.bool, device=x.device), 1)
        return x, pad, mask

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        x, pad, mask = self._inputs(x, lengths)
        out = self.encoder(x, mask=mask, src_key_padding_mask=pad)
        return self.norm(out) * (~pad).unsqueeze(-1)

    def states_at(self, x: Tensor, lengths: Tensor, positions: Tensor) -> Tensor:
        """The last layer only for the read-out positions (its keys and values still cover every
        item): a third to two fifths of an inference pass. Every position at or before a row's
        last item may be read; the causal mask then hides nothing the padding mask does not."""
        *first, last = self.encoder.layers
        if self.training or self.encoder.norm is not None or not last.norm_first:
            return super().states_at(x, lengths, positions)
        x, pad, mask = self._inputs(x, lengths)
        for layer in first:
            x = layer(x, src_mask=mask, src_key_padding_mask=pad)
        rows = torch.arange(x.shape[0], device=x.device)
        query = x[rows, positions].unsqueeze(1)
        if self.causal:
            pad = pad | (torch.arange(x.shape[1], device=x.device) > positions.unsqueeze(1))
        keys = last.norm1(x)
        attended = last.self_attn(
            last.norm1(query), keys, keys, key_padding_mask=pad, need_weights=False
        )[0]
        query = query + last.dropout1(attended)
        query = query + last._ff_block(last.norm2(query))
        return self.norm(query.squeeze(1))
