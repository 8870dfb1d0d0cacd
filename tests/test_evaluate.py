import math

import numpy as np
import pytest
import torch

from recg import ranking
from recg.evaluate import popularity_model_ranks
from recg.models import build_model
from recg.negatives import sample_eval_negatives
from recg.ranking import (
    history_pairs,
    metric_rows,
    rank_against_all,
    rank_full,
    rank_sampled,
    ranks_from_scores,
    user_vectors,
)
from recg.sequences import pad, split_inputs


def as_dict(rows):
    return {(m, k): v for m, k, v in rows}


def test_metrics_against_hand_computed_values():
    got = as_dict(metric_rows(np.array([0, 1, 5, 20]), [1, 5, 10]))
    assert got[("recall", 1)] == 0.25
    assert got[("recall", 5)] == 0.5
    assert got[("recall", 10)] == 0.75
    assert got[("ndcg", 1)] == 0.25
    assert got[("ndcg", 5)] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert got[("ndcg", 10)] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(7)) / 4)
    assert got[("mrr", 0)] == pytest.approx((1 + 1 / 2 + 1 / 6 + 1 / 21) / 4)


def test_ties_count_against_the_target():
    scores = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 2.0, 2.0, 0.0]])
    ranks = ranks_from_scores(scores, torch.tensor([1.0, 2.0]))
    assert ranks.tolist() == [3, 2]  # a constant scorer ranks its target last


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_counting_scores_at_least_a_threshold_block_by_block(monkeypatch, dtype):
    monkeypatch.setattr(ranking, "COUNT_COLUMNS", 3)  # 10 columns: blocks of 3, 3, 3 and 1
    scores = torch.tensor([[5, 1, 4, 4, 0, 9, 4, 2, 8, 3], [0] * 10], dtype=dtype)
    thresholds = torch.tensor([[4], [0]], dtype=dtype)
    counts = ranking.count_at_least(scores, thresholds)
    assert counts.dtype == torch.int64
    assert counts.tolist() == [6, 10]  # ties count: 5, 4, 4, 9, 4, 8; every 0 >= 0


def test_history_pairs_are_distinct_and_skip_the_target():
    values = np.array([2, 3, 2, 1, 4, 1, 9])
    rows, items = history_pairs(values, np.array([0, 4]), np.array([3, 6]), np.array([1, 1]), 9)
    assert list(zip(rows.tolist(), items.tolist(), strict=True)) == [(0, 2), (0, 3), (1, 4)]


def test_full_ranking_discounts_history_by_gathering():
    # 3 users over 5 items; scores fixed per item: item k scores k
    seqs = [np.array([5, 4, 1]), np.array([2, 3]), np.array([3, 3, 2])]
    scores = torch.arange(6, dtype=torch.float32)
    ranks = rank_against_all(lambda lo, hi: scores.expand(hi - lo, -1), seqs, "test", 5)
    # user 0: target 1, history {5, 4}: items ahead outside history = 2, 3 -> rank 2
    # user 1: target 3, history {2}: ahead = 4, 5 -> rank 2
    # user 2: target 2, history {3} (repeated): ahead = 4, 5 -> rank 2
    assert ranks.tolist() == [2, 2, 2]


def test_pad_keeps_the_last_items():
    assert pad([np.array([1, 2, 3]), np.array([4])], 2).tolist() == [[2, 3], [4, 0]]
    assert pad([np.array([1, 2, 3]), np.array([4])]).tolist() == [[1, 2, 3], [4, 0, 0]]
    assert pad([np.array([7])], 3).tolist() == [[7, 0, 0]]


def test_split_inputs_leave_one_out():
    seqs = [np.array([5, 6, 7, 8]), np.array([1, 2, 3])]
    inputs, targets = split_inputs(seqs, "test", max_items=2)
    assert targets.tolist() == [8, 3] and inputs.tolist() == [[6, 7], [1, 2]]
    inputs, targets = split_inputs(seqs, "valid", max_items=5)
    assert targets.tolist() == [7, 2] and inputs.tolist() == [[5, 6], [1, 0]]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = build_model("gru4rec", llm_dim=8, hidden=4, max_len=5, dropout=0.0)
    model.items.set_table(torch.cat([torch.zeros(1, 8), torch.randn(30, 8)]))
    rng = np.random.default_rng(0)
    seqs = [rng.choice(np.arange(1, 31), size=rng.integers(3, 9), replace=False) for _ in range(40)]
    return model, seqs


def test_full_ranking_matches_brute_force(tiny):
    model, seqs = tiny
    inputs, _ = split_inputs(seqs, "test", model.max_items)
    users = user_vectors(model, inputs).numpy()
    items = model.items.outputs().detach().numpy()
    expected = []
    for u, seq in enumerate(seqs):
        scores = items @ users[u]
        others = [i for i in range(1, 31) if i not in set(seq[:-1]) and i != seq[-1]]
        expected.append(int((scores[others] >= scores[seq[-1]]).sum()))
    assert rank_full(model, seqs, "test", batch_size=7).tolist() == expected


def test_sampled_ranking_matches_brute_force(tiny):
    model, seqs = tiny
    negatives = sample_eval_negatives(seqs, 30, 10, seed=3)
    inputs, targets = split_inputs(seqs, "test", model.max_items)
    users = user_vectors(model, inputs).numpy()
    items = model.items.outputs().detach().numpy()
    expected = [
        int((items[negatives[u]] @ users[u] >= items[targets[u]] @ users[u]).sum())
        for u in range(len(seqs))
    ]
    assert rank_sampled(model, seqs, negatives, batch_size=9).tolist() == expected


def test_negatives_are_distinct_outside_history_and_seeded():
    rng = np.random.default_rng(1)
    seqs = [
        rng.choice(np.arange(1, 201), size=rng.integers(3, 60), replace=False) for _ in range(500)
    ]
    neg = sample_eval_negatives(seqs, 200, 100, seed=7)
    assert neg.shape == (500, 100)
    for row, seq in zip(neg, seqs, strict=True):
        assert len(set(row)) == 100
        assert not set(row) & set(seq)
        assert row.min() >= 1 and row.max() <= 200
    assert np.array_equal(neg, sample_eval_negatives(seqs, 200, 100, seed=7))
    assert not np.array_equal(neg, sample_eval_negatives(seqs, 200, 100, seed=8))


def test_negatives_are_uniform_over_allowed_items():
    seqs = [np.array([1, 2, 3])] * 4000
    neg = sample_eval_negatives(seqs, 13, 5, seed=0)
    counts = np.bincount(neg.ravel(), minlength=14)[4:]
    expected = neg.size / 10
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 30  # 9 degrees of freedom; p < 0.001 beyond ~27.9


def test_negatives_fail_clearly_when_the_domain_is_too_small():
    with pytest.raises(ValueError, match="cannot draw 100 negatives"):
        sample_eval_negatives([np.array([1, 2, 3])], 50, 100, seed=0)


def test_popularity_baseline_hand_case():
    seqs = [np.array([1, 2, 3]), np.array([2, 1, 4])]
    counts = np.array([0, 5, 1, 0, 3])  # item 1 most popular, then 4, then 2
    negatives = np.array([[4], [3]])
    ranks = popularity_model_ranks(counts, seqs, negatives)
    # user 0: target 3 (count 0); candidates outside {1, 2}: 3, 4 -> 4 scores higher -> rank 1
    # user 1: target 4 (count 3); candidates outside {2, 1}: 3, 4 -> rank 0
    assert ranks["full"].tolist() == [1, 0]
    assert ranks["uni1"].tolist() == [1, 0]


def test_validation_split_ranks_the_second_to_last_item(tiny):
    """Validation on a sequence is the test protocol on the sequence without its last item."""
    model, seqs = tiny
    negatives = sample_eval_negatives(seqs, 30, 10, seed=3)
    shorter = [s[:-1] for s in seqs]
    assert np.array_equal(
        rank_full(model, seqs, "valid", batch_size=7), rank_full(model, shorter, "test", 7)
    )
    assert np.array_equal(
        rank_sampled(model, seqs, negatives, 9, split="valid"),
        rank_sampled(model, shorter, negatives, 9),
    )
