"""GRU4Rec (Hidasi et al., 2016) over projected LLM item vectors."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from recg.models.base import SequenceBackbone


class GRU4Rec(SequenceBackbone):
    def __init__(self, hidden: int, max_len: int, dropout: float, layers: int = 1, **_) -> None:
        super().__init__(hidden, max_len, dropout)
        self.gru = nn.GRU(
            hidden,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(
            x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out
