import struct

import numpy as np
import pandas as pd
import pytest

from recg.figures import (
    plot_embedding_map,
    plot_results,
    plot_sensitivity,
    plot_training_curves,
    sample_rows,
)
from recg.report import COLUMNS


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def metric_frame(alphas=(None,), variants=("sem", "recg"), seeds=(1, 2), sources=("A", "B")):
    rows = []
    rng = np.random.default_rng(0)
    for source in sources:
        for target in ("A", "B", "C"):
            for model in ("gru4rec", "sasrec"):
                for variant in variants:
                    for alpha in alphas:
                        if variant == "sem" and alpha != alphas[0]:
                            continue
                        for seed in seeds:
                            for metric in ("recall", "ndcg"):
                                rows.append(
                                    {
                                        "source": source,
                                        "target": target,
                                        "model": model,
                                        "variant": variant,
                                        "settings": f"{variant}{alpha}",
                                        "seed": seed,
                                        "recg.alpha": np.nan if variant == "sem" else alpha,
                                        "protocol": "uni100",
                                        "metric": metric,
                                        "k": 10,
                                        "value": rng.uniform(0.05, 0.4),
                                    }
                                )
    frame = pd.DataFrame(rows)
    return frame[[*COLUMNS[:6], "recg.alpha", *COLUMNS[6:]]]


def test_zero_shot_results_have_one_panel_per_pair(tmp_path):
    out = tmp_path / "zero.png"
    fig = plot_results(metric_frame(), out, "uni100")
    width, height = png_size(out)
    assert width > 600 and height > 300
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in axes) == ["A → B", "A → C", "B → A", "B → C"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["GRU4Rec", "SASRec"]
    assert axes[0].get_ylabel() == "metric@10 (%)"
    assert len(axes[0].patches) == 2 * 2 * 2
    assert "Zero-shot" in fig._suptitle.get_text() and "uni100" in fig._suptitle.get_text()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["-Sem R@10", "-Sem N@10", "-RecG R@10", "-RecG N@10"]


def test_in_domain_results_have_one_panel_per_domain(tmp_path):
    fig = plot_results(metric_frame(), tmp_path / "in.png", "uni100", in_domain=True)
    assert sorted(ax.get_title() for ax in fig.axes if ax.get_visible()) == ["A", "B"]
    assert "In-domain" in fig._suptitle.get_text()


def test_results_bars_use_the_seed_mean(tmp_path):
    frame = metric_frame(variants=("recg",))
    fig = plot_results(frame, tmp_path / "zero.png", "uni100")
    ax = next(ax for ax in fig.axes if ax.get_title() == "A → B")
    sel = frame[
        (frame["source"] == "A")
        & (frame["target"] == "B")
        & (frame["model"] == "gru4rec")
        & (frame["metric"] == "recall")
    ]
    assert ax.patches[0].get_height() == pytest.approx(100 * sel["value"].mean())


def test_sensitivity_uses_log_axis_for_wide_sweep(tmp_path):
    out = tmp_path / "alpha.png"
    frame = metric_frame(alphas=(1e-4, 1e-3, 1e-2), sources=("A",))
    fig = plot_sensitivity(frame, "recg.alpha", out, "uni100")
    png_size(out)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["A → B", "A → C"] * 2
    assert all(ax.get_xscale() == "log" for ax in axes)
    assert axes[0].get_ylabel() == "Recall@10 (%)" and axes[2].get_ylabel() == "NDCG@10 (%)"
    assert axes[0].get_xlabel() == "alpha"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["GRU4Rec-RecG", "SASRec-RecG"]
    line = axes[0].lines[0]
    assert list(line.get_xdata()) == [1e-4, 1e-3, 1e-2]


def test_sensitivity_keeps_linear_axis_for_narrow_sweep(tmp_path):
    frame = metric_frame(alphas=(0.5, 1.0, 2.0), sources=("A",))
    fig = plot_sensitivity(frame, "recg.alpha", tmp_path / "a.png")
    assert fig.axes[0].get_xscale() == "linear"


def test_sample_rows_are_fixed_by_seed():
    a = sample_rows({"X": 50, "Y": 10}, 20, seed=3)
    b = sample_rows({"X": 50, "Y": 10}, 20, seed=3)
    assert len(a["X"]) == 20 and len(a["Y"]) == 10
    assert all(np.array_equal(a[d], b[d]) for d in a)
    assert not np.array_equal(a["X"], sample_rows({"X": 50, "Y": 10}, 20, seed=4)["X"])


def offsets(fig):
    return [np.asarray(c.get_offsets()) for ax in fig.axes for c in ax.collections]


def test_embedding_map_uses_same_rows_in_every_panel_and_is_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    space = {"X": rng.normal(size=(40, 6)), "Y": rng.normal(1.0, 1.0, size=(30, 6))}
    spaces = {"raw": space, "copy": {d: m.copy() for d, m in space.items()}}
    out = tmp_path / "map.png"
    fig = plot_embedding_map(spaces, out, "GRU4Rec trained on X", per_domain=15, seed=1)
    png_size(out)
    first = offsets(fig)
    assert [len(o) for o in first] == [15, 15, 15, 15]
    assert np.allclose(first[0], first[2]) and np.allclose(first[1], first[3])
    assert [ax.get_title() for ax in fig.axes] == ["raw", "copy"]
    assert fig._suptitle.get_text() == "GRU4Rec trained on X"
    again = offsets(plot_embedding_map(spaces, out, "t", per_domain=15, seed=1))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_embedding_map_rejects_panels_with_other_items(tmp_path):
    spaces = {"a": {"X": np.zeros((5, 2))}, "b": {"X": np.zeros((4, 2))}}
    with pytest.raises(ValueError, match="item counts"):
        plot_embedding_map(spaces, tmp_path / "m.png", "t", per_domain=3)


def test_training_curves_have_loss_and_validation_panels(tmp_path):
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [0.9, 0.6, 0.5],
            "gen_loss": [0.01, 0.0, -0.01],
            "val_ndcg10": [0.1, 0.15, 0.16],
        }
    )
    out = tmp_path / "curves.png"
    fig = plot_training_curves(
        [("-Sem", history), ("-RecG", history.assign(train_loss=[1.0, 0.7, 0.6]))],
        out,
        "GRU4Rec trained on A",
    )
    width, height = png_size(out)
    assert width > 800 and height > 300
    loss_ax, val_ax = fig.axes
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel()) == ("epoch", "loss")
    assert val_ax.get_ylabel() == "NDCG@10 (%)"
    assert list(val_ax.lines[0].get_ydata()) == pytest.approx([10, 15, 16])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["-Sem", "-RecG"]
