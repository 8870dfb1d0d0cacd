"""Training loop: objectives, determinism, resume, best-state selection and SG fitting."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from train_inputs import LLM_DIM, item_table, walks, write_training_inputs

from recg.losses import generalisation_loss
from recg.models import load_model
from recg.objectives import OBJECTIVES, cloze_mask
from recg.patterns import fit_pattern_fusion
from recg.settings import VARIANTS, TrainSettings
from recg.train import train, train_to_files
from recg.trainer import Trainer, architecture, new_model

_sequences, _table = walks, item_table


def _settings(**kw) -> TrainSettings:
    base = {
        "model": "gru4rec",
        "hidden": 8,
        "max_len": 6,
        "dropout": 0.2,
        "batch_size": 16,
        "epochs": 3,
        "patience": 10,
        "samples_per_domain": 8,
        "clusters": 3,
        "pattern_epochs": 2,
    }
    return TrainSettings(**{**base, **kw})


def _quiet(_: str) -> None:
    pass


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------ windows

NEXT_ITEM, CLOZE = OBJECTIVES["next_item"], OBJECTIVES["cloze"]


def test_next_item_windows_shift_by_one():
    seqs = [np.array([1, 2, 3, 4, 5, 6]), np.array([7, 8, 9, 10, 11])]
    inputs, targets = NEXT_ITEM.windows(seqs, _settings(max_len=3))
    # training parts [1..4] and [7, 8, 9]: the last max_len + 1 items, as inputs and shifted targets
    assert inputs.tolist() == [[1, 2, 3], [7, 8, 0]]
    assert targets.tolist() == [[2, 3, 4], [8, 9, 0]]


def test_objective_last_gives_one_target_per_user():
    seqs = [np.array([1, 2, 3, 4, 5, 6]), np.array([7, 8, 9, 10, 11])]
    inputs, targets = NEXT_ITEM.windows(seqs, _settings(objective="last", max_len=5))
    assert inputs.tolist() == [[1, 2, 3, 0, 0], [7, 8, 0, 0, 0]]
    assert targets.tolist() == [[0, 0, 4, 0, 0], [0, 9, 0, 0, 0]]
    assert ((targets > 0).sum(axis=1) == 1).all()


def test_users_too_short_for_a_pair_are_dropped():
    seqs = [np.array([1, 2, 3]), np.array([4, 5, 6, 7])]
    inputs, targets = NEXT_ITEM.windows(seqs, _settings(objective="last"))
    assert len(inputs) == 1 and targets[0, 0] == 5
    windows, _ = CLOZE.windows(seqs, _settings())
    assert windows[:, :2].tolist() == [[1, 0], [4, 5]]


def test_cloze_mask_masks_only_items_and_at_least_one_per_row():
    seqs = torch.tensor([[3, 4, 5, 0], [6, 0, 0, 0], [1, 2, 3, 4]])
    for seed in range(20):
        masked = cloze_mask(seqs, 0.2, torch.Generator().manual_seed(seed))
        assert not (masked & (seqs == 0)).any()
        assert masked.any(dim=1).all()


def test_objective_last_trains():
    seqs = _sequences()
    _, summary, history = train(_settings(objective="last", epochs=2), _table(), seqs, log=_quiet)
    assert len(history) == 2 and summary["best_epoch"] in (1, 2)


def test_batches_cover_every_window_once_and_group_similar_lengths():
    trainer = Trainer(_settings(batch_size=4, length_pool=3), _table(), _sequences(), log=_quiet)
    batches = trainer.batches()
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(trainer.inputs)))
    spread = np.mean([np.ptp(trainer.lengths[b]) for b in batches])
    plain = Trainer(_settings(batch_size=4, length_pool=1), _table(), _sequences(), log=_quiet)
    plain_spread = np.mean([np.ptp(plain.lengths[b]) for b in plain.batches()])
    assert spread < plain_spread


def test_max_steps_caps_the_epochs():
    settings = _settings(epochs=10, batch_size=16)
    trainer = Trainer(settings, _table(), _sequences(), log=_quiet)
    per_epoch = len(trainer.batches())
    capped = Trainer(
        dataclasses.replace(settings, max_steps=2 * per_epoch - 1),
        _table(),
        _sequences(),
        log=_quiet,
    )
    capped.fit()
    assert capped.epoch == 2


# ------------------------------------------------------------------------------ the loop


@pytest.mark.parametrize(
    ("model", "variant"), [("gru4rec", "sem"), ("sasrec", "recg"), ("bert4rec", "recg-no-sg")]
)
def test_same_seed_gives_identical_weights_and_metrics(model, variant):
    seqs, others = _sequences(), [_table(10, 1), _table(12, 2)]
    runs = [
        train(_settings(model=model, variant=variant, epochs=2), _table(), seqs, others, log=_quiet)
        for _ in range(2)
    ]
    assert _states_equal(runs[0][0].state_dict(), runs[1][0].state_dict())
    untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in r[2]] for r in runs]
    assert untimed[0] == untimed[1]
    other_seed = train(
        _settings(model=model, variant=variant, epochs=2, seed=2),
        _table(),
        seqs,
        others,
        log=_quiet,
    )
    assert not _states_equal(runs[0][0].state_dict(), other_seed[0].state_dict())


class _Stop(Exception):
    pass


@pytest.mark.parametrize(
    ("model", "variant"), [("gru4rec", "recg"), ("bert4rec", "sem"), ("sasrec", "sem")]
)
def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path, model, variant):
    seqs, others = _sequences(), [_table(10, 1), _table(12, 2)]
    settings = _settings(model=model, variant=variant, epochs=4)
    reference = Trainer(settings, _table(), seqs, others, log=_quiet)
    reference.fit()

    checkpoint = tmp_path / "checkpoint.pt"

    def kill_after_two(epoch: int) -> None:
        if epoch == 2:
            raise _Stop

    with pytest.raises(_Stop):
        Trainer(settings, _table(), seqs, others, log=_quiet).fit(checkpoint, kill_after_two)
    resumed = Trainer(settings, _table(), seqs, others, log=_quiet)
    resumed.fit(checkpoint)
    assert resumed.epoch == reference.epoch == 4
    assert _states_equal(resumed.model.state_dict(), reference.model.state_dict())
    assert _states_equal(resumed.best_state, reference.best_state)
    assert [r["val_ndcg10"] for r in resumed.history] == [
        r["val_ndcg10"] for r in reference.history
    ]


def _patterns_fitted(settings: TrainSettings, checkpoint=None, log=_quiet):
    """A freshly trained model (training is deterministic) whose W_f is then fitted."""
    seqs = _sequences()
    trainer = Trainer(settings, _table(), seqs, [_table(10, 1), _table(12, 2)], log=_quiet)
    model = trainer.fit()
    summary = fit_pattern_fusion(model, seqs, settings, log, trainer.val_sequences, checkpoint)
    return model, summary


def test_pattern_fit_resumes_after_a_kill_to_identical_weights(tmp_path):
    settings = _settings(variant="recg", epochs=2, pattern_epochs=4)
    reference = tmp_path / "reference.pt"
    ref_model, ref_summary = _patterns_fitted(settings, reference)

    checkpoint = tmp_path / "patterns.pt"

    def kill_in_epoch_three(line: str) -> None:
        if line.startswith("SG: W_f epoch 2"):
            raise _Stop

    with pytest.raises(_Stop):
        _patterns_fitted(settings, checkpoint, kill_in_epoch_three)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2
    lines: list[str] = []
    model, summary = _patterns_fitted(settings, checkpoint, lines.append)
    assert f"SG: resumed W_f from {checkpoint} after epoch 2" in lines
    epochs = [line.split()[3] for line in lines if line.startswith("SG: W_f epoch")]
    assert epochs == ["3:", "4:"]  # only the epochs the killed fit had not finished
    assert _states_equal(model.state_dict(), ref_model.state_dict())
    assert summary == ref_summary
    # the last checkpoints (W_f, optimiser, generator, best state) agree byte for byte
    assert checkpoint.read_bytes() == reference.read_bytes()


def test_a_pattern_checkpoint_of_other_settings_is_not_used(tmp_path):
    checkpoint = tmp_path / "patterns.pt"
    _patterns_fitted(_settings(variant="recg", epochs=2, pattern_lr=0.01), checkpoint)
    lines: list[str] = []
    other = _settings(variant="recg", epochs=2, pattern_lr=0.002)
    model, summary = _patterns_fitted(other, checkpoint, lines.append)
    assert any(line.startswith("SG: ignoring") for line in lines)
    assert not any("resumed" in line for line in lines)
    fresh_model, fresh_summary = _patterns_fitted(other)
    assert _states_equal(model.state_dict(), fresh_model.state_dict())
    assert summary == fresh_summary


def test_best_state_is_a_copy_of_the_best_epoch_not_the_last(monkeypatch):
    trainer = Trainer(_settings(epochs=3), _table(), _sequences(), log=_quiet)
    scores = iter([0.5, 0.1, 0.2])
    monkeypatch.setattr(trainer, "validate", lambda: next(scores))
    snapshots = []
    model = trainer.fit(
        on_epoch_end=lambda epoch: snapshots.append(
            {k: v.clone() for k, v in trainer.model.state_dict().items()}
        )
    )
    assert trainer.best_epoch == 1
    assert not _states_equal(snapshots[0], snapshots[2])  # training moved the weights on
    assert _states_equal(model.state_dict(), snapshots[0])


def test_patience_stops_training(monkeypatch):
    trainer = Trainer(_settings(epochs=20, patience=2), _table(), _sequences(), log=_quiet)
    scores = iter([0.3, 0.4, 0.2, 0.1, 0.9])
    monkeypatch.setattr(trainer, "validate", lambda: next(scores))
    trainer.fit()
    assert trainer.epoch == 4 and trainer.best_epoch == 2


def test_generalisation_loss_trains_the_alignment_projection():
    trainer = Trainer(
        _settings(variant="recg"), _table(), _sequences(), [_table(10, 1), _table(12, 2)], _quiet
    )
    trainer.model.train()
    inputs, targets = (torch.from_numpy(a[:8]) for a in (trainer.inputs, trainer.targets))
    loss, gen = trainer._batch_loss(inputs, targets)
    assert gen != 0.0
    loss.backward()
    assert trainer.model.items.align.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("loss_on", "trained"), [("aligned", {"align"}), ("merged", {"proj", "align", "merge"})]
)
def test_loss_location_decides_which_projections_the_generalisation_loss_trains(loss_on, trained):
    trainer = Trainer(
        _settings(variant="recg", loss_on=loss_on),
        _table(),
        _sequences(),
        [_table(10, 1), _table(12, 2)],
        _quiet,
    )
    loss, _ = generalisation_loss(trainer._aligned_samples(), trainer.weights)
    loss.backward()
    items = trainer.model.items
    got = {
        name
        for name in ("proj", "align", "merge")
        if getattr(items, name).weight.grad is not None
        and getattr(items, name).weight.grad.abs().sum() > 0
    }
    assert got == trained


def test_merge_side_is_part_of_the_saved_architecture():
    for merge, merged in (("inputs", False), ("inputs_and_candidates", True)):
        settings = _settings(variant="recg", merge=merge)
        assert architecture(settings, LLM_DIM)["merge_candidates"] is merged
        assert new_model(settings, LLM_DIM).items.merge_candidates is merged
    assert not architecture(_settings(merge="inputs_and_candidates"), LLM_DIM)["merge_candidates"]


def test_two_domain_generalisation_warns():
    with pytest.warns(UserWarning, match="constant"):
        Trainer(_settings(variant="recg"), _table(), _sequences(), [_table(10, 1)], _quiet)


def test_variants_switch_the_parts_of_the_method():
    assert not VARIANTS["sem"].align and not VARIANTS["sem"].patterns
    assert VARIANTS["recg"] == dataclasses.replace(VARIANTS["recg-no-sg"], patterns=True)
    assert VARIANTS["recg-no-ig"].align and not VARIANTS["recg-no-ig"].generalisation
    assert not VARIANTS["recg-no-id"].intra and VARIANTS["recg-no-id"].inter
    assert VARIANTS["recg-no-ic"].intra and not VARIANTS["recg-no-ic"].inter


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_runs():
    model, _, _ = train(_settings(device="cuda", epochs=1), _table(), _sequences(), log=_quiet)
    assert model.device.type == "cuda"


# ---------------------------------------------------------------------------- SG and files


def test_sequence_patterns_are_fitted_and_saved(tmp_path):
    seq_path, emb_paths = write_training_inputs(tmp_path)
    items_path = tmp_path / "items.parquet"
    out = tmp_path / "model"
    settings = _settings(variant="recg", epochs=2)
    summary = train_to_files(
        settings,
        seq_path,
        emb_paths[0],
        emb_paths[1:],
        out / "model.pt",
        out / "config.json",
        out / "train_log.csv",
        source="source",
        items_path=items_path,
        log=_quiet,
    )
    assert summary["patterns"]["clusters"] == 3
    assert summary["patterns"]["val_ndcg10"] >= summary["patterns"]["val_ndcg10_identity"]
    config = json.loads((out / "config.json").read_text())
    model = load_model(out / "model.pt", config["architecture"])
    centroids = model.patterns.centroids
    assert centroids.shape == (3, settings.hidden) and centroids.abs().sum() > 0
    assert len(pd.read_csv(out / "train_log.csv")) == 2
    # both checkpoints (training, W_f) are removed once the model is written
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.pt", "train_log.csv"]


def test_every_switch_at_the_papers_side_trains_and_reloads(tmp_path):
    settings = _settings(
        variant="recg",
        epochs=1,
        pattern_epochs=0,
        inter_entropy="maximise",
        loss_on="merged",
        merge="inputs_and_candidates",
    )
    others = [_table(10, 1), _table(12, 2)]
    model, summary, _ = train(settings, _table(), _sequences(), others, log=_quiet)
    assert summary["patterns"]["best_epoch"] == 0
    torch.save(model.state_dict(), tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt", architecture(settings, LLM_DIM))
    loaded.items.set_table(_table())
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded.items.outputs(), model.items.outputs())
        assert torch.allclose(loaded.items.outputs(), loaded.items.merged(_table()))
        users = torch.randn(4, settings.hidden)
        assert torch.equal(loaded.patterns(users), users)
