"""Figures: results bars, sensitivity curves (paper Fig. 2), item-embedding maps (Fig. 3) and
training curves. Every function writes a PNG atomically and returns the Figure for inspection."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from recg.io import atomic_path
from recg.report import (
    METRIC_SHORT,
    MODEL_NAMES,
    VARIANT_NAMES,
    matching,
    ordered_keys,
    run_label,
    swept_label,
    varying,
)

matplotlib.use("Agg")

DPI = 120
PAIRED = plt.get_cmap("tab20")


def _save(fig: Figure, out: str | os.PathLike) -> Figure:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)
    return fig


def _legend(
    fig: Figure, handles: Sequence, labels: Sequence[str], pairs: bool = False, **kw
) -> None:
    """Below the panels, as many columns as the figure is wide (R@k/N@k pairs kept together)."""
    entry = 0.7 + 0.075 * max(len(label) for label in labels)
    ncols = max(1, min(len(labels), int(fig.get_figwidth() // entry)))
    if pairs:
        runs = math.ceil(len(labels) / 2)
        ncols = math.ceil(runs / math.ceil(runs / ncols))
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small", **kw)


def _grid(n: int, ncols: int, width: float, height: float) -> tuple[Figure, list[plt.Axes]]:
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(max(6.0, width * ncols + 0.5), height * nrows + 1.6),
        layout="constrained",
        squeeze=False,
    )
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def plot_results(
    frame: pd.DataFrame,
    out: str | os.PathLike,
    protocol: str = "uni100",
    k: int = 10,
    in_domain: bool = False,
) -> Figure:
    """R@k and N@k per backbone, one panel per source→target pair (or per domain in-domain).

    Each variant (with its swept values, when they vary) keeps one colour pair across panels:
    the dark shade is R@k, the light hatched shade N@k; error bars are the std over seeds.
    """
    same = frame["source"] == frame["target"]
    part = frame[
        (same if in_domain else ~same)
        & (frame["protocol"] == protocol)
        & (frame["k"] == k)
        & frame["metric"].isin(list(METRIC_SHORT))
    ]
    shown = varying(part)
    runs = [key[1:] for key in ordered_keys(part.assign(model=""), ["model", "variant", *shown])]
    models = list(dict.fromkeys(key[0] for key in ordered_keys(part, ["model", "variant"])))
    pairs = sorted(set(zip(part["source"], part["target"], strict=True)))
    kind = "In-domain" if in_domain else "Zero-shot"
    panel = min(7.5, 1.5 + 0.22 * max(1, 2 * len(models) * len(runs)))
    fig, axes = _grid(max(1, len(pairs)), 3 if panel <= 5 else 2, panel, 3.2)
    if not pairs:
        axes[0].text(0.5, 0.5, "no results", ha="center", va="center")
        axes[0].set_axis_off()
    width = 0.8 / max(1, 2 * len(runs))
    handles: dict[str, Any] = {}
    for ax, (source, target) in zip(axes, pairs, strict=False):
        pair = part[(part["source"] == source) & (part["target"] == target)]
        for i, model in enumerate(models):
            present = [
                r for r in runs if matching(pair, ["model", "variant", *shown], (model, *r)).any()
            ]
            for j, run in enumerate(present):
                sel = pair[matching(pair, ["model", "variant", *shown], (model, *run))]
                colour = runs.index(run)
                for m, metric in enumerate(METRIC_SHORT):
                    values = 100 * sel[sel["metric"] == metric]["value"]
                    x = i + (2 * j + m + 0.5 - len(present)) * width
                    std = values.std(ddof=1) if len(values) > 1 else 0.0
                    label = _run_name(run, shown) + f" {METRIC_SHORT[metric]}@{k}"
                    bar = ax.bar(
                        x,
                        values.mean(),
                        width,
                        yerr=std,
                        capsize=2,
                        color=PAIRED((2 * colour + m) % 20),
                        hatch="//" if m else None,
                        edgecolor="black",
                        linewidth=0.4,
                        error_kw={"linewidth": 0.8},
                    )
                    handles.setdefault(label, bar)
        ax.set_xticks(range(len(models)), [MODEL_NAMES.get(m, m) for m in models])
        ax.set_xlabel("backbone")
        ax.set_ylabel(f"metric@{k} (%)")
        ax.set_title(source if in_domain else f"{source} → {target}")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{kind} Recall@{k} and NDCG@{k}, protocol {protocol}\nmean ± std over seeds")
    if handles:
        _legend(fig, list(handles.values()), list(handles), pairs=True)
    return _save(fig, out)


def _run_name(run: tuple, shown: Sequence[str]) -> str:
    variant = VARIANT_NAMES.get(run[0], f"-{run[0]}") or MODEL_NAMES["pop"]
    suffix = swept_label(dict(zip(shown, run[1:], strict=True)))
    return variant + (f" ({suffix})" if suffix else "")


def plot_sensitivity(
    frame: pd.DataFrame,
    key: str,
    out: str | os.PathLike,
    protocol: str = "uni100",
    k: int = 10,
) -> Figure:
    """Paper Fig. 2: R@k and N@k against one swept setting, one column per zero-shot pair.

    Runs that do not use `key` (e.g. -Sem for recg.*) are left out. When other settings are swept
    as well, each combination of their values gets its own line rather than hiding any run.
    """
    part = frame[
        (frame["source"] != frame["target"])
        & (frame["protocol"] == protocol)
        & (frame["k"] == k)
        & frame["metric"].isin(list(METRIC_SHORT))
        & frame[key].notna()
    ].copy()
    part[key] = pd.to_numeric(part[key])
    others = [c for c in varying(part) if c != key]
    lines = ordered_keys(part, ["model", "variant", *others]) if not part.empty else []
    pairs = sorted(set(zip(part["source"], part["target"], strict=True)))
    ncols = max(1, len(pairs))
    fig, axes = plt.subplots(
        2, ncols, figsize=(max(6.0, 3.4 * ncols + 0.6), 6.6), layout="constrained", squeeze=False
    )
    values = part[key].unique()
    log = len(values) > 0 and values.min() > 0 and values.max() / values.min() >= 100
    name = key.rsplit(".", 1)[-1]
    for col, (source, target) in enumerate(pairs or [("", "")]):
        pair = part[(part["source"] == source) & (part["target"] == target)]
        for row, metric in enumerate(METRIC_SHORT):
            ax = axes[row, col]
            for n, line in enumerate(lines):
                sel = pair[matching(pair, ["model", "variant", *others], line)]
                sel = sel[sel["metric"] == metric]
                if sel.empty:
                    continue
                curve = (100 * sel.set_index(key)["value"]).groupby(level=0).agg(["mean", "std"])
                label = run_label(line[0], line[1], dict(zip(others, line[2:], strict=True)))
                ax.errorbar(
                    curve.index,
                    curve["mean"],
                    yerr=curve["std"].fillna(0.0),
                    marker="o",
                    capsize=3,
                    color=plt.get_cmap("tab10")(n % 10),
                    label=label,
                )
            if log:
                ax.set_xscale("log")
            ax.set_xlabel(name)
            ax.set_ylabel(f"{'Recall' if metric == 'recall' else 'NDCG'}@{k} (%)")
            ax.set_title(f"{source} → {target}" if pairs else "no zero-shot runs")
            ax.grid(alpha=0.3)
    fig.suptitle(
        f"Sensitivity to {key}, zero-shot, protocol {protocol}\n"
        f"Recall@{k} and NDCG@{k}, mean ± std over seeds"
    )
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        _legend(fig, handles, labels)
    return _save(fig, out)


def sample_rows(sizes: Mapping[str, int], per_domain: int, seed: int) -> dict[str, np.ndarray]:
    """Row indices per domain, drawn once so every panel maps the same items."""
    rng = np.random.default_rng(seed)
    return {
        domain: np.sort(rng.choice(n, size=min(per_domain, n), replace=False))
        for domain, n in sorted(sizes.items())
    }


def plot_embedding_map(
    spaces: Mapping[str, Mapping[str, np.ndarray]],
    out: str | os.PathLike,
    title: str,
    per_domain: int = 300,
    seed: int = 0,
) -> Figure:
    """Paper Fig. 3: t-SNE of each embedding space side by side, coloured by domain."""
    from sklearn.manifold import TSNE

    first = next(iter(spaces.values()))
    sizes = {domain: len(matrix) for domain, matrix in first.items()}
    for panel, space in spaces.items():
        if {d: len(m) for d, m in space.items()} != sizes:
            raise ValueError(f"panel {panel!r} has other domains or item counts than the first")
    rows = sample_rows(sizes, per_domain, seed)
    domains = list(rows)
    fig, axes = plt.subplots(
        1,
        len(spaces),
        figsize=(4.2 * len(spaces) + 0.4, 5.0),
        layout="constrained",
        squeeze=False,
    )
    for ax, (panel, space) in zip(axes[0], spaces.items(), strict=True):
        points = np.concatenate([np.asarray(space[d], dtype=np.float64)[rows[d]] for d in domains])
        perplexity = float(min(30, len(points) - 1))
        coords = TSNE(
            n_components=2, init="pca", random_state=seed, perplexity=perplexity
        ).fit_transform(points)
        start = 0
        for n, domain in enumerate(domains):
            stop = start + len(rows[domain])
            ax.scatter(
                coords[start:stop, 0],
                coords[start:stop, 1],
                s=6,
                alpha=0.7,
                color=plt.get_cmap("tab10")(n % 10),
                label=domain,
            )
            start = stop
        ax.set_title(panel)
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    _legend(fig, handles, labels, title="domain", markerscale=3)
    return _save(fig, out)


def plot_training_curves(
    runs: Sequence[tuple[str, pd.DataFrame]], out: str | os.PathLike, title: str
) -> Figure:
    """Training loss and validation NDCG@10 per epoch, one line per run, to compare convergence."""
    fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(10, 4.6), layout="constrained")
    for n, (label, history) in enumerate(runs):
        colour = plt.get_cmap("tab10")(n % 10)
        loss_ax.plot(history["epoch"], history["train_loss"], color=colour, label=label)
        val_ax.plot(history["epoch"], 100 * history["val_ndcg10"], color=colour, label=label)
    loss_ax.set_title("training loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    val_ax.set_title("validation NDCG@10")
    val_ax.set_xlabel("epoch")
    val_ax.set_ylabel("NDCG@10 (%)")
    for ax in (loss_ax, val_ax):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    if runs:
        _legend(fig, *loss_ax.get_legend_handles_labels())
    return _save(fig, out)
