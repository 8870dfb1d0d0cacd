"""Recommendation losses and the -RecG item-level generalisation loss (paper Eq. 6, 8-15)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from recg.losses import (
    GeneralisationWeights,
    bpr_loss,
    generalisation_loss,
    inter_domain_entropy,
    intra_domain_entropy,
    sample_negatives,
    sampled_ce_loss,
    warn_if_degenerate,
)


def _binary_entropy(logit_gap: float) -> float:
    """Entropy of softmax([x, 0]) with x = logit_gap, written out by hand."""
    p = math.exp(logit_gap) / (math.exp(logit_gap) + 1.0)
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def _tiny_domains() -> list[torch.Tensor]:
    """A: two orthogonal items; B: two copies of e1; C: two copies of e2."""
    return [
        torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
        torch.tensor([[0.0, 1.0], [0.0, 1.0]]),
    ]


def test_generalisation_loss_matches_hand_computed_case():
    # Intra (tau = 1): A's cosine rows are [1, 0] -> entropy h(1); B and C are all-ones -> log 2.
    # Inter: A's items see centres B, C at cosines (1, 0) or (0, 1) -> h(1); B's and C's items
    # see A's centre (1/sqrt2, 1/sqrt2) at cosine 1/sqrt2 and the third domain at 0 -> h(1/sqrt2).
    h1, h_a = _binary_entropy(1.0), _binary_entropy(1 / math.sqrt(2))
    intra = (h1 + 2 * math.log(2)) / 3
    inter = (2 * h1 + 4 * h_a) / 6
    alpha = 0.01
    beta = alpha * 6 / 3**3  # N = 6 sampled items, D = 3 domains
    loss, parts = generalisation_loss(_tiny_domains(), GeneralisationWeights(alpha, tau=1.0))
    assert parts["intra"] == pytest.approx(intra, rel=1e-6)
    assert parts["inter"] == pytest.approx(inter, rel=1e-6)
    assert parts["beta"] == pytest.approx(beta)
    assert float(loss) == pytest.approx(-alpha * intra + beta * inter, rel=1e-6)


def _numpy_entropies(domains: list[np.ndarray], tau: float) -> tuple[float, float]:
    """Independent numpy version of Eq. 9-12 (own centre excluded, row entropies averaged)."""

    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def entropy(logits):
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return -(p * np.log(p)).sum()

    intra = np.mean([np.mean([entropy(row / tau) for row in unit(d) @ unit(d).T]) for d in domains])
    centres = unit(np.stack([d.mean(axis=0) for d in domains]))
    rows = []
    for own, d in enumerate(domains):
        others = np.delete(centres, own, axis=0)
        rows += [entropy(others @ z / tau) for z in unit(d)]
    return float(intra), float(np.mean(rows))


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_entropies_match_numpy_reference(tau):
    rng = np.random.default_rng(0)
    domains = [rng.normal(size=(n, 5)) for n in (4, 6, 3, 5)]
    intra, inter = _numpy_entropies(domains, tau)
    tensors = [torch.from_numpy(d) for d in domains]
    assert float(intra_domain_entropy(tensors, tau)) == pytest.approx(intra, rel=1e-9)
    assert float(inter_domain_entropy(tensors, tau)) == pytest.approx(inter, rel=1e-9)


def _step(weights: GeneralisationWeights, lr: float = 0.05) -> tuple[tuple[float, float], ...]:
    """Entropies before and after one gradient step on L_gen over a shared projection."""
    torch.manual_seed(0)
    raw = [torch.randn(16, 12) + shift for shift in (0.0, 1.5, -1.5)]
    proj = torch.nn.Linear(12, 6)

    def entropies():
        with torch.no_grad():
            out = [proj(r) for r in raw]
            return float(intra_domain_entropy(out, 1.0)), float(inter_domain_entropy(out, 1.0))

    before = entropies()
    loss, _ = generalisation_loss([proj(r) for r in raw], weights)
    loss.backward()
    with torch.no_grad():
        for p in proj.parameters():
            p -= lr * p.grad / weights.alpha
    return before, entropies()


def test_gradient_step_raises_intra_entropy():
    (intra0, _), (intra1, _) = _step(GeneralisationWeights(0.01, inter=False))
    assert intra1 > intra0


def test_gradient_step_lowers_inter_entropy():
    (_, inter0), (_, inter1) = _step(GeneralisationWeights(0.01, intra=False))
    assert inter1 < inter0


def test_gradient_step_on_full_loss_moves_both_terms_the_right_way():
    (intra0, inter0), (intra1, inter1) = _step(GeneralisationWeights(0.01), lr=0.01)
    assert intra1 > intra0
    assert inter1 < inter0


def test_two_domains_make_the_inter_term_constant():
    torch.manual_seed(1)
    a = torch.randn(5, 4, requires_grad=True)
    b = torch.randn(7, 4, requires_grad=True)
    inter = inter_domain_entropy([a, b], tau=0.3)
    assert float(inter.detach()) == 0.0
    inter.backward()
    assert torch.count_nonzero(a.grad) == 0 and torch.count_nonzero(b.grad) == 0
    loss, parts = generalisation_loss([a, b], GeneralisationWeights(0.1, intra=False))
    assert float(loss.detach()) == 0.0 and parts["inter"] == 0.0


def test_fewer_than_three_domains_warn():
    with pytest.warns(UserWarning, match="constant"):
        warn_if_degenerate(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_degenerate(3)


def test_inter_entropy_has_finite_gradient_with_masked_own_centre():
    torch.manual_seed(2)
    domains = [torch.randn(4, 3, requires_grad=True) for _ in range(3)]
    inter_domain_entropy(domains, 0.1).backward()
    assert all(torch.isfinite(d.grad).all() for d in domains)


def test_bpr_value_and_gradient_direction():
    pos = torch.zeros(3, requires_grad=True)
    neg = torch.zeros(3, 4, requires_grad=True)
    loss = bpr_loss(pos, neg)
    assert float(loss.detach()) == pytest.approx(math.log(2))
    loss.backward()
    assert (pos.grad < 0).all()  # raising a positive's score lowers the loss
    assert (neg.grad > 0).all()  # raising a negative's score raises it


def test_sampled_ce_value_and_gradient_direction():
    pos = torch.zeros(2, requires_grad=True)
    neg = torch.zeros(2, 2, requires_grad=True)
    loss = sampled_ce_loss(pos, neg)
    assert float(loss.detach()) == pytest.approx(math.log(3))
    loss.backward()
    assert (pos.grad < 0).all() and (neg.grad > 0).all()


def test_negatives_are_uniform_over_other_items():
    positives = torch.tensor([1, 3, 5] * 2000)
    neg = sample_negatives(positives, 5, 4, torch.Generator().manual_seed(0))
    assert neg.shape == (6000, 4)
    assert neg.min() >= 1 and neg.max() <= 5
    assert not (neg == positives[:, None]).any()
    counts = torch.bincount(neg[positives == 3].flatten(), minlength=6)[1:].float()
    assert counts[2] == 0
    others = counts[[0, 1, 3, 4]]
    assert (others / others.sum() - 0.25).abs().max() < 0.02


def test_maximising_the_inter_entropy_flips_its_gradient():
    torch.manual_seed(2)
    base = [torch.randn(6, 4) + shift for shift in (0.0, 1.0, -1.0)]
    grads = {}
    for direction in ("minimise", "maximise"):
        domains = [d.clone().requires_grad_(True) for d in base]
        weights = GeneralisationWeights(0.1, intra=False, inter_entropy=direction)
        loss, parts = generalisation_loss(domains, weights)
        loss.backward()
        grads[direction] = torch.cat([d.grad for d in domains])
        assert parts["inter"] > 0
    assert grads["minimise"].abs().sum() > 0
    assert torch.allclose(grads["maximise"], -grads["minimise"])


def test_inter_entropy_direction_must_be_known():
    with pytest.raises(ValueError, match="minimise or maximise"):
        GeneralisationWeights(0.1, inter_entropy="minimize")
