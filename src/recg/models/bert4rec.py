"""BERT4Rec (Sun et al., 2019): bidirectional self-attention trained with the cloze task."""

from __future__ import annotations

from recg.models.sasrec import SASRec


class BERT4Rec(SASRec):
    causal = False
    objective = "cloze"

    def __init__(self, hidden: int, max_len: int, dropout: float, **params) -> None:
        params = {"ff_mult": 4, "activation": "gelu", **params}
        super().__init__(hidden, max_len, dropout, **params)
