"""Recommendation losses over sampled negatives and the -RecG item-level generalisation loss."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F


def sample_negatives(positives: Tensor, n_items: int, n: int, generator: torch.Generator) -> Tensor:
    """`n` uniform negatives from 1..n_items per positive, never equal to that positive.

    Drawn from a CPU `generator` (reproducible whatever the device), returned on the positives'.
    """
    draw = torch.randint(1, n_items, (*positives.shape, n), generator=generator)
    draw = draw.to(positives.device)
    return draw + (draw >= positives.unsqueeze(-1)).long()


def bpr_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """-log sigmoid(s+ - s-), averaged over positives and their negatives (Eq. 6)."""
    return -F.logsigmoid(pos.unsqueeze(-1) - neg).mean()


def sampled_ce_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """Cross-entropy of the positive against its sampled negatives (sampled softmax)."""
    logits = torch.cat([pos.unsqueeze(-1), neg], dim=-1)
    return -F.log_softmax(logits, dim=-1)[..., 0].mean()


REC_LOSSES = {"bpr": bpr_loss, "ce": sampled_ce_loss}


def _row_entropy(logits: Tensor) -> Tensor:
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def intra_domain_entropy(domains: list[Tensor], tau: float) -> Tensor:
    """Mean row entropy of each domain's cosine-softmax, averaged over domains (Eq. 11-12)."""
    parts = []
    for emb in domains:
        z = F.normalize(emb, dim=-1)
        parts.append(_row_entropy(z @ z.T / tau).mean())
    return torch.stack(parts).mean()


def inter_domain_entropy(domains: list[Tensor], tau: float) -> Tensor:
    """Mean entropy of each item's softmax over the *other* domains' centres (Eq. 9-10)."""
    centres = F.normalize(torch.stack([emb.mean(dim=0) for emb in domains]), dim=-1)
    z = F.normalize(torch.cat(domains), dim=-1)
    own = torch.cat([torch.full((len(e),), d, device=z.device) for d, e in enumerate(domains)])
    logits = (z @ centres.T / tau).masked_fill(F.one_hot(own, len(domains)).bool(), float("-inf"))
    log_q = F.log_softmax(logits, dim=-1)
    q = log_q.exp()
    return -(q * torch.where(q > 0, log_q, torch.zeros_like(log_q))).sum(dim=-1).mean()


@dataclass(frozen=True)
class GeneralisationWeights:
    alpha: float
    tau: float = 1.0
    intra: bool = True
    inter: bool = True
    #: `minimise` the inter-domain entropy (the prose, the authors' code) or `maximise` it (Eq. 9)
    inter_entropy: str = "minimise"

    def __post_init__(self) -> None:
        if self.inter_entropy not in ("minimise", "maximise"):
            raise ValueError(
                f"inter_entropy must be minimise or maximise, not {self.inter_entropy!r}"
            )


def generalisation_loss(
    domains: list[Tensor], weights: GeneralisationWeights
) -> tuple[Tensor, dict]:
    """L_gen = -alpha * H_intra + beta * H_inter with beta = alpha * N / D^3 (Eq. 13-14).

    N is the number of sampled items in the loss and D the number of domains, as in the authors'
    code. Minimising raises within-domain diversity and lowers the entropy of each item's similarity
    to the other domains' centres (the prose's "compactness"; the printed Eq. 9 has the sign flipped:
    `inter_entropy="maximise"` subtracts the inter term instead).
    """
    n_domains = len(domains)
    n_items = sum(len(e) for e in domains)
    beta = weights.alpha * n_items / n_domains**3
    zero = domains[0].new_zeros(())
    intra = intra_domain_entropy(domains, weights.tau) if weights.intra else zero
    inter = inter_domain_entropy(domains, weights.tau) if weights.inter and n_domains > 2 else zero
    sign = 1.0 if weights.inter_entropy == "minimise" else -1.0
    loss = -weights.alpha * intra + sign * beta * inter
    return loss, {"intra": float(intra.detach()), "inter": float(inter.detach()), "beta": beta}


def warn_if_degenerate(n_domains: int) -> None:
    if n_domains < 3:
        warnings.warn(
            f"only {n_domains} domain(s) feed the inter-domain term: each item's softmax over the "
            "other domains' centres has a single entry, so the term is constant and has no gradient. "
            "Configure at least three domains for inter-domain compactness.",
            stacklevel=2,
        )
