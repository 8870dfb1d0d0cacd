"""Aggregation: the tidy metrics table, paper-shaped summary tables, paired tests and plots."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from recg.io import atomic_path, read_json

COLUMNS = ["source", "target", "model", "variant", "seed", "protocol", "metric", "k", "value"]
MODEL_NAMES = {"gru4rec": "GRU4Rec", "sasrec": "SASRec", "bert4rec": "BERT4Rec", "pop": "Pop"}
VARIANT_NAMES = {
    "sem": "-Sem",
    "recg": "-RecG",
    "recg-no-id": "-RecG w/o ID",
    "recg-no-ic": "-RecG w/o IC",
    "recg-no-ig": "-RecG w/o IG",
    "recg-no-sg": "-RecG w/o SG",
    "base": "",
}


def collect(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per (source, target, model, variant, seed, protocol, metric, k)."""
    rows = []
    for path in paths:
        result = read_json(path)
        labels = {key: result[key] for key in ("source", "target", "model", "variant", "seed")}
        rows.extend({**labels, **metric} for metric in result["metrics"])
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame = frame.astype({"seed": int, "k": int, "value": float})
    return frame.sort_values(COLUMNS[:-1], kind="stable").reset_index(drop=True)


def column_order(column: tuple[str, str]) -> tuple:
    """The paper's order: GRU4Rec, SASRec, BERT4Rec (others after, Pop last); -Sem before -RecG."""
    model, variant = column
    models, variants = list(MODEL_NAMES), list(VARIANT_NAMES)
    return (
        models.index(model) if model in models else models.index("pop") - 0.5,
        model,
        variants.index(variant) if variant in variants else len(variants),
        variant,
    )


def display_name(model: str, variant: str) -> str:
    return MODEL_NAMES.get(model, model) + VARIANT_NAMES.get(variant, f"-{variant}")


def _mean_std(values: pd.Series) -> str:
    mean = 100 * values.mean()
    if len(values) < 2:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {100 * values.std(ddof=1):.2f}"


def summarise(frame: pd.DataFrame, protocol: str, k: int, in_domain: bool) -> pd.DataFrame:
    """Mean and std over seeds of Recall@k and NDCG@k per (source, target, model, variant)."""
    same = frame["source"] == frame["target"]
    part = frame[
        (same if in_domain else ~same)
        & (frame["protocol"] == protocol)
        & (frame["k"] == k)
        & frame["metric"].isin(["recall", "ndcg"])
    ]
    keys = ["source", "target", "model", "variant", "metric"]
    return (
        part.groupby(keys, sort=True)["value"]
        .agg(mean="mean", std=lambda v: v.std(ddof=1) if len(v) > 1 else np.nan, seeds="count")
        .reset_index()
    )


def markdown_table(frame: pd.DataFrame, protocol: str, k: int, in_domain: bool) -> str:
    """Paper-shaped table (Table 3 zero-shot / Table 4 in-domain): R@k / N@k in %."""
    same = frame["source"] == frame["target"]
    part = frame[
        (same if in_domain else ~same) & (frame["protocol"] == protocol) & (frame["k"] == k)
    ]
    if part.empty:
        return f"_No {'in-domain' if in_domain else 'zero-shot'} results for {protocol}._\n"
    columns = sorted(set(zip(part["model"], part["variant"], strict=True)), key=column_order)
    header = ["Source", "Target"] + [f"{display_name(m, v)} R@{k} / N@{k}" for m, v in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (source, target), group in part.groupby(["source", "target"], sort=True):
        cells = [source, target]
        for model, variant in columns:
            sel = group[(group["model"] == model) & (group["variant"] == variant)]
            if sel.empty:
                cells.append("")
                continue
            recall = _mean_std(sel[sel["metric"] == "recall"]["value"])
            ndcg = _mean_std(sel[sel["metric"] == "ndcg"]["value"])
            cells.append(f"{recall} / {ndcg}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paired_tests(frame: pd.DataFrame, baseline: str = "sem") -> pd.DataFrame:
    """Each variant against `baseline` of the same backbone: mean gain and paired t-test over seeds."""
    keys = ["source", "target", "model", "protocol", "metric", "k"]
    base = frame[frame["variant"] == baseline]
    rows = []
    for variant in sorted(set(frame["variant"]) - {baseline, "base"}):
        other = frame[frame["variant"] == variant]
        merged = other.merge(base, on=[*keys, "seed"], suffixes=("", "_base"))
        for key, group in merged.groupby(keys, sort=True):
            diff = group["value"] - group["value_base"]
            p = np.nan
            if len(group) >= 2 and diff.std(ddof=1) > 0:
                p = float(stats.ttest_rel(group["value"], group["value_base"]).pvalue)
            base_mean = group["value_base"].mean()
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "variant": variant,
                    "baseline": baseline,
                    "seeds": len(group),
                    "mean": group["value"].mean(),
                    "baseline_mean": base_mean,
                    "gain": diff.mean(),
                    "relative_gain": diff.mean() / base_mean if base_mean else np.nan,
                    "p_value": p,
                }
            )
    return pd.DataFrame(rows)


def plot_zero_shot(frame: pd.DataFrame, out: str | os.PathLike, protocol: str, k: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = frame[(frame["protocol"] == protocol) & (frame["k"] == k) & (frame["metric"] == "ndcg")]
    part = part[part["model"] != "pop"]
    pivot = (
        part.assign(
            pair=part["source"] + "→" + part["target"],
            name=[display_name(m, v) for m, v in zip(part["model"], part["variant"], strict=True)],
        )
        .groupby(["pair", "name"])["value"]
        .mean()
        .unstack("name")
    )
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(pivot) + 3), 4))
    if not pivot.empty:
        (100 * pivot).plot.bar(ax=ax, rot=30)
    ax.set_ylabel(f"NDCG@{k} (%), {protocol}")
    ax.set_xlabel("source → target")
    ax.set_title(f"NDCG@{k} per source→target pair ({protocol}, mean over seeds)")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def _write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def aggregate(
    metric_files: Sequence[str | os.PathLike],
    outputs: dict[str, str | os.PathLike],
    protocol: str,
    k: int = 10,
) -> pd.DataFrame:
    """Write metrics.csv, the zero-shot and in-domain tables, the paired tests and a plot."""
    frame = collect(metric_files)
    _write_csv(frame, outputs["metrics"])
    for name, in_domain in (("zero_shot", False), ("in_domain", True)):
        parts = [
            f"## {'In-domain' if in_domain else 'Zero-shot'}: R@{k} / N@{k} (%), mean ± std over seeds\n"
        ]
        for proto in sorted(frame["protocol"].unique(), key=lambda p: p != protocol):
            parts.append(
                f"\n### Protocol `{proto}`\n\n" + markdown_table(frame, proto, k, in_domain)
            )
        _write_text("".join(parts), outputs[f"{name}_md"])
        tables = [
            summarise(frame, proto, k, in_domain).assign(protocol=proto)
            for proto in frame["protocol"].unique()
        ]
        _write_csv(pd.concat(tables, ignore_index=True), outputs[f"{name}_csv"])
    _write_csv(paired_tests(frame), outputs["tests"])
    plot_zero_shot(frame, outputs["plot"], protocol, k)
    return frame
