"""Semantic-bias diagnostics: how much of an item vector says which domain it comes from.

The paper's Fig. 3 shows LLM item embeddings clustering by domain; these numbers measure it for
any item space (an encoder's tables, a trained model's projections), each against the value it
would have without domain bias:

- probe accuracy: a cross-validated linear classifier predicting the domain; without bias it
  cannot beat the majority-class rate.
- k-NN purity: the share of an item's k cosine nearest neighbours (among every domain's items,
  itself excluded) from its own domain; without bias it is the chance of drawing a same-domain
  item, sum_d n_d/n * (n_d - 1)/(n - 1).
- centre ratio: mean distance between domain centres over the within-domain spread (root mean
  squared distance of items to their own centre); about sqrt(2/n) for identical distributions of
  n items each, 0 in the limit.

Each domain is cut to a fixed-seed sample, shared by every space, so the metrics stay cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np

METRICS = ("probe_accuracy", "knn_purity", "centre_ratio")
BASELINES = ("majority_rate", "knn_expected")


def sample_rows(counts: Mapping[str, int], per_domain: int, seed: int) -> dict[str, np.ndarray]:
    """Domain -> sorted 0-based rows of at most `per_domain` of its items (seeded per domain)."""
    out = {}
    for i, (domain, n) in enumerate(sorted(counts.items())):
        rng = np.random.default_rng([seed, i])
        rows = rng.permutation(n)[:per_domain] if n > per_domain else np.arange(n)
        out[domain] = np.sort(rows)
    return out


def stack(vectors: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(items, dim) vectors of every domain in name order, and each item's domain index."""
    names = sorted(vectors)
    x = np.concatenate([np.asarray(vectors[d], np.float64) for d in names])
    labels = np.repeat(np.arange(len(names)), [len(vectors[d]) for d in names])
    return x, labels


def majority_rate(labels: np.ndarray) -> float:
    return float(np.bincount(labels).max() / len(labels))


def probe_accuracy(x: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> float:
    """Stratified k-fold accuracy of a logistic-regression probe on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    smallest = int(np.bincount(labels).min())
    if smallest < folds:
        raise ValueError(f"a domain has {smallest} sampled items, fewer than the {folds} folds")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, x, labels, cv=split, scoring="accuracy").mean())


def knn_purity(x: np.ndarray, labels: np.ndarray, k: int, block: int = 1024) -> float:
    """Mean share of each item's k cosine nearest neighbours (itself excluded) in its domain."""
    n = len(x)
    if k >= n:
        raise ValueError(f"k = {k} neighbours need more than {n} items")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.maximum(norms, np.finfo(np.float64).tiny)
    same = 0
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        sims = unit[lo:hi] @ unit.T
        sims[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        same += int((labels[nearest] == labels[lo:hi, None]).sum())
    return same / (n * k)


def expected_purity(labels: np.ndarray) -> float:
    """k-NN purity of neighbours drawn at random from the other items."""
    n = len(labels)
    counts = np.bincount(labels).astype(np.float64)
    return float((counts / n * (counts - 1) / (n - 1)).sum())


def centre_ratio(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean pairwise distance of domain centres over the pooled within-domain RMS spread."""
    domains = np.unique(labels)
    centres = np.stack([x[labels == d].mean(axis=0) for d in domains])
    spread = np.sqrt(((x - centres[np.searchsorted(domains, labels)]) ** 2).sum(axis=1).mean())
    gaps = [
        np.linalg.norm(centres[a] - centres[b]) for a, b in combinations(range(len(domains)), 2)
    ]
    if spread == 0:
        return 0.0 if max(gaps) == 0 else float("inf")
    return float(np.mean(gaps) / spread)


def bias(vectors: Mapping[str, np.ndarray], folds: int, k: int, seed: int) -> dict[str, Any]:
    """Every metric and its no-bias reference for one space (domain -> sampled item vectors)."""
    if len(vectors) < 2:
        raise ValueError(f"domain bias needs at least two domains, got {len(vectors)}")
    x, labels = stack(vectors)
    return {
        "domains": len(vectors),
        "items": len(x),
        "probe_accuracy": probe_accuracy(x, labels, folds, seed),
        "majority_rate": majority_rate(labels),
        "knn_purity": knn_purity(x, labels, k),
        "knn_expected": expected_purity(labels),
        "centre_ratio": centre_ratio(x, labels),
    }


def bias_rows(
    spaces: Mapping[str, Mapping[str, np.ndarray]], folds: int, k: int, seed: int
) -> list[dict[str, Any]]:
    """One row per space, in the given order."""
    return [{"space": name, **bias(vectors, folds, k, seed)} for name, vectors in spaces.items()]
