"""Backbones behind the shared interface, transfer between domains, and the SG fusion module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recg.models import BACKBONES, PatternFusion, build_model, load_model
from recg.ranking import user_vectors

LLM_DIM, HIDDEN, MAX_LEN, N_ITEMS = 12, 16, 8, 30


def _model(name: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, LLM_DIM, HIDDEN, MAX_LEN, dropout=0.0, **kw)
    model.items.set_table(_table(N_ITEMS, seed=1))
    return model.eval()


def _table(n_items: int, seed: int) -> torch.Tensor:
    table = torch.randn(n_items + 1, LLM_DIM, generator=torch.Generator().manual_seed(seed))
    table[0] = 0
    return table


def _batch() -> torch.Tensor:
    """Right-padded ids: rows of length 5, 3 and 1."""
    return torch.tensor([[3, 7, 1, 9, 4], [5, 2, 8, 0, 0], [6, 0, 0, 0, 0]])


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("align", [False, True])
def test_interface_shapes(name, align):
    model = _model(name, align=align)
    seqs = _batch()
    with torch.no_grad():
        states = model.states(seqs)
        users = model.user_vectors(seqs)
        scores_all = model.score_all(users)
        cands = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
        scores = model.score(users, cands)
    assert states.shape == (3, 5, HIDDEN)
    assert users.shape == (3, HIDDEN)
    assert scores_all.shape == (3, N_ITEMS + 1)
    assert scores.shape == (3, 3)
    assert torch.allclose(scores, scores_all.gather(1, cands), atol=1e-5)
    assert torch.isfinite(scores_all).all()


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("last", [True, False])
def test_states_at_positions_are_the_full_passes_states(name, last):
    """A backbone may compute only the read-out positions at inference: the same states."""
    model = _model(name)
    seqs = _batch()
    lengths = (seqs > 0).sum(dim=1)
    positions = lengths - 1 if last else torch.tensor([2, 0, 0])
    x = model.items.inputs(seqs)
    with torch.no_grad():
        full = model.backbone(x, lengths)[torch.arange(3), positions]
        assert torch.allclose(model.backbone.states_at(x, lengths, positions), full, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_user_vectors_ignore_extra_padding(name):
    model = _model(name)
    seqs = _batch()
    wider = torch.cat([seqs, torch.zeros(3, 2, dtype=torch.long)], dim=1)
    with torch.no_grad():
        assert torch.allclose(model.user_vectors(seqs), model.user_vectors(wider), atol=1e-5)
        # a row's vector does not depend on the other rows of the batch
        assert torch.allclose(
            model.user_vectors(seqs)[1], model.user_vectors(seqs[1:2])[0], atol=1e-5
        )


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_batched_user_vectors_keep_the_input_order(name):
    model = _model(name)
    rows = [[3, 7, 1, 9, 4], [6, 0, 0, 0, 0], [5, 2, 8, 0, 0], [2, 4, 0, 0, 0]]
    inputs = np.array(rows, dtype=np.int64)
    with torch.no_grad():
        one_by_one = torch.cat([model.user_vectors(torch.tensor([r])) for r in rows])
    assert torch.allclose(user_vectors(model, inputs, batch_size=2), one_by_one, atol=1e-5)


@pytest.mark.parametrize("name", ["gru4rec", "sasrec"])
def test_causal_state_ignores_later_items(name):
    model = _model(name)
    seqs = _batch()[:1]
    changed = seqs.clone()
    changed[0, 3:] = torch.tensor([11, 12])
    with torch.no_grad():
        a, b = model.states(seqs), model.states(changed)
    assert torch.allclose(a[0, :3], b[0, :3], atol=1e-5)
    assert not torch.allclose(a[0, 3:], b[0, 3:], atol=1e-3)


def test_bert4rec_state_sees_later_items():
    model = _model("bert4rec")
    seqs = _batch()[:1]
    changed = seqs.clone()
    changed[0, 4] = 11
    with torch.no_grad():
        a, b = model.states(seqs), model.states(changed)
    assert not torch.allclose(a[0, 0], b[0, 0], atol=1e-4)


def test_bert4rec_reads_the_user_at_an_appended_mask_token():
    model = _model("bert4rec")
    seqs = _batch()[:1]
    appended = torch.cat([seqs, torch.zeros(1, 1, dtype=torch.long)], dim=1)
    masked = torch.zeros_like(appended, dtype=torch.bool)
    masked[0, 5] = True
    appended[0, 5] = 1  # any id: the mask token replaces it
    with torch.no_grad():
        expected = model.states(appended, masked)[0, 5]
        assert torch.allclose(model.user_vectors(seqs)[0], expected, atol=1e-5)
    assert model.max_items == MAX_LEN - 1


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_swapping_the_table_keeps_every_trained_weight(name):
    model = _model(name, align=True, clusters=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not any("table" in k for k in before)  # the frozen LLM table is never saved
    seqs = _batch()
    with torch.no_grad():
        users_source = model.user_vectors(seqs)
    target = _table(N_ITEMS + 10, seed=2)
    model.items.set_table(target)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.items.n_items == N_ITEMS + 10
    with torch.no_grad():
        assert not torch.allclose(model.user_vectors(seqs), users_source)
        # candidates are scored with W_p only, on the target's table
        assert torch.allclose(model.items.outputs(), model.items.proj(target))


def test_set_table_rejects_another_dimension():
    model = _model("gru4rec")
    with pytest.raises(ValueError, match="dimension"):
        model.items.set_table(torch.zeros(5, LLM_DIM + 1))


def test_recg_inputs_merge_both_projections():
    model = _model("gru4rec", align=True)
    seqs = _batch()
    raw = model.items.table[seqs]
    merged = model.items.merge(torch.cat([model.items.proj(raw), model.items.align(raw)], -1))
    with torch.no_grad():
        assert torch.allclose(model.items.inputs(seqs), merged * (seqs > 0).unsqueeze(-1))
        other = _table(5, seed=3)
        ids = torch.tensor([1, 4])
        assert torch.allclose(model.items.aligned(ids, other), model.items.align(other[ids]))


def test_merge_side_decides_the_candidate_vectors():
    seqs = _batch()
    ids = seqs[seqs > 0]
    for merge_candidates in (False, True):
        model = _model("gru4rec", align=True, merge_candidates=merge_candidates)
        raw = model.items.table[ids]
        with torch.no_grad():
            merged = model.items.inputs(seqs)[seqs > 0]
            candidates = model.items.outputs(ids)
            assert torch.allclose(model.items.outputs()[ids], candidates)
            assert torch.allclose(candidates, merged) == merge_candidates
            assert torch.allclose(candidates, model.items.proj(raw)) != merge_candidates


def test_merged_candidates_need_the_alignment_projection():
    with pytest.raises(ValueError, match="W_a"):
        _model("gru4rec", merge_candidates=True)


def test_pattern_fusion_identity_init_is_a_no_op():
    fusion = PatternFusion(HIDDEN, clusters=4)
    fusion.centroids.copy_(torch.randn(4, HIDDEN))
    users = torch.randn(7, HIDDEN)
    with torch.no_grad():
        assert torch.allclose(fusion(users), users, atol=1e-6)
        fusion.fuse.weight[:, HIDDEN:] = torch.eye(HIDDEN)
        attended = torch.softmax(
            torch.nn.functional.cosine_similarity(users[:, None], fusion.centroids[None], dim=-1),
            dim=-1,
        )
        assert torch.allclose(fusion(users), users + attended @ fusion.centroids, atol=1e-5)


def test_patterns_apply_only_when_switched_on():
    model = _model("sasrec", align=True, clusters=2)
    with torch.no_grad():
        model.patterns.centroids.copy_(torch.randn(2, HIDDEN))
        model.patterns.fuse.weight.mul_(0.5)
        plain = model.user_vectors(_batch())
        model.use_patterns = True
        fused = model.user_vectors(_batch())
    assert torch.allclose(fused, model.patterns(plain), atol=1e-6)
    assert not torch.allclose(fused, plain)


def test_centroids_and_fusion_reload_with_load_model(tmp_path):
    arch = {
        "name": "bert4rec",
        "llm_dim": LLM_DIM,
        "hidden": HIDDEN,
        "max_len": MAX_LEN,
        "dropout": 0.1,
        "align": True,
        "clusters": 3,
        "layers": 1,
        "heads": 2,
    }
    model = build_model(**arch)
    with torch.no_grad():
        model.patterns.centroids.copy_(torch.randn(3, HIDDEN))
        model.patterns.fuse.weight.add_(0.1)
    state = model.state_dict()
    assert {"patterns.centroids", "patterns.fuse.weight", "items.align.weight"} <= state.keys()
    torch.save(state, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt", arch)
    assert all(torch.equal(state[k], loaded.state_dict()[k]) for k in state)
    assert not loaded.training


def test_unknown_backbone_is_rejected():
    with pytest.raises(KeyError, match="unknown model"):
        build_model("transformer-xl", LLM_DIM, HIDDEN, MAX_LEN, 0.0)
