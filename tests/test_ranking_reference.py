"""Batched, chunked ranking against a plain per-user reference, for both protocols and splits."""

import numpy as np
import pytest
import torch

from recg.evaluate import popularity_model_ranks
from recg.models import build_model
from recg.negatives import sample_eval_negatives
from recg.ranking import rank_full, rank_sampled, split_user_vectors, user_vectors
from recg.sequences import CUT, split_inputs


@pytest.fixture(scope="module")
def domain():
    torch.manual_seed(1)
    model = build_model("gru4rec", llm_dim=8, hidden=6, max_len=4, dropout=0.0)
    model.items.set_table(torch.cat([torch.zeros(1, 8), torch.randn(25, 8)]))
    model.eval()
    rng = np.random.default_rng(5)
    seqs = [rng.integers(1, 26, size=rng.integers(3, 12)) for _ in range(37)]  # with repeats
    return model, seqs, sample_eval_negatives(seqs, 25, 8, seed=11)


def reference_ranks(model, seqs, negatives, split):
    """One user at a time: its own forward pass, scores of every item, counted by hand."""
    items = model.items.outputs().detach().numpy()
    full, sampled = [], []
    for seq, negs in zip(seqs, negatives, strict=True):
        cut = len(seq) - CUT[split]
        history, target = seq[:cut], seq[cut]
        with torch.inference_mode():
            user = model.user_vectors(torch.from_numpy(history[-model.max_items :][None]))[0]
        scores = items @ user.numpy()
        others = set(range(1, 26)) - set(history.tolist()) - {int(target)}
        full.append(sum(scores[i] >= scores[target] for i in others))
        sampled.append(int((scores[negs] >= scores[target]).sum()))
    return full, sampled


@pytest.mark.parametrize("split", ["test", "valid"])
@pytest.mark.parametrize("batch_size", [5, 1024])
def test_both_protocols_match_a_per_user_reference(domain, split, batch_size):
    model, seqs, negatives = domain
    full, sampled = reference_ranks(model, seqs, negatives, split)
    assert rank_full(model, seqs, split, batch_size).tolist() == full
    assert rank_sampled(model, seqs, negatives, batch_size, split=split).tolist() == sampled


@pytest.mark.parametrize("split", ["test", "valid"])
def test_split_user_vectors_equal_those_of_padded_inputs(domain, split):
    model, seqs, _ = domain
    inputs, _ = split_inputs(seqs, split, model.max_items)
    assert torch.equal(
        split_user_vectors(model, seqs, split, batch_size=4), user_vectors(model, inputs, 4)
    )


def test_popularity_sampled_ranks_match_a_per_user_reference(domain):
    _, seqs, negatives = domain
    counts = np.bincount(np.concatenate([s[:-2] for s in seqs]), minlength=26)
    expected = [
        int((counts[negs] >= counts[seq[-1]]).sum())
        for seq, negs in zip(seqs, negatives, strict=True)
    ]
    assert popularity_model_ranks(counts, seqs, negatives)["uni8"].tolist() == expected
