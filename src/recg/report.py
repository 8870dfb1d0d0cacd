"""Aggregation: the tidy metrics table, paper-shaped summary tables, paired tests and plots."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from recg.io import read_json, read_table
from recg.io import write_csv as _write_csv
from recg.pages import write_markdown

IDENTITY = ["source", "target", "model", "variant", "settings", "seed"]
MEASURE = ["protocol", "metric", "k", "value"]
COLUMNS = IDENTITY + MEASURE
MODEL_NAMES = {"gru4rec": "GRU4Rec", "sasrec": "SASRec", "bert4rec": "BERT4Rec", "pop": "Pop"}
VARIANT_NAMES = {
    "sem": "-Sem",
    "recg": "-RecG",
    "recg-no-id": "-RecG w/o ID",
    "recg-no-ic": "-RecG w/o IC",
    "recg-no-ig": "-RecG w/o IG",
    "recg-no-sg": "-RecG w/o SG",
    "sem-center": "-Sem centred",
    "sem-whiten": "-Sem whitened",
    "recg-center": "-RecG centred",
    "base": "",
}
METRIC_SHORT = {"recall": "R", "ndcg": "N"}
SIGNIFICANCE = 0.05


def setting_cell(value: Any) -> Any:
    """A setting as a table cell: a list (`recg.gen_domains`) becomes one string, so rows can
    be sorted and grouped by it."""
    return f"[{' '.join(map(str, value))}]" if isinstance(value, list) else value


def collect(paths: Iterable[str | os.PathLike], swept_keys: Iterable[str] = ()) -> pd.DataFrame:
    """One row per run and metric; swept settings sit between `seed` and `protocol`.

    A result names its swept values in `swept`, or holds all its settings in `settings_values`,
    of which the `swept_keys` become columns.
    """
    keys = set(swept_keys)
    rows = []
    swept: set[str] = set()
    for path in paths:
        result = read_json(path)
        labels = {key: result[key] for key in IDENTITY}
        values = result.get("swept")
        if values is None:
            values = {k: v for k, v in result.get("settings_values", {}).items() if k in keys}
        labels.update({k: setting_cell(v) for k, v in values.items()})
        swept.update(values)
        rows.extend({**labels, **metric} for metric in result["metrics"])
    columns = IDENTITY + sorted(swept) + MEASURE
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.astype({"settings": str, "seed": int, "k": int, "value": float})
    return frame.sort_values(columns[:-1], kind="stable").reset_index(drop=True)


def swept_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in COLUMNS]


def sensitivity_keys(frame: pd.DataFrame) -> list[str]:
    """Swept settings a sensitivity curve can be drawn against: numeric, at least two values."""
    keys = []
    for column in swept_columns(frame):
        values = pd.to_numeric(frame[column].dropna(), errors="coerce")
        if len(values) and values.notna().all() and values.nunique() >= 2:
            keys.append(column)
    return keys


def column_order(column: tuple[str, str]) -> tuple:
    """The paper's order: GRU4Rec, SASRec, BERT4Rec (others after, Pop last); -Sem before -RecG."""
    model, variant = column[:2]
    models, variants = list(MODEL_NAMES), list(VARIANT_NAMES)
    return (
        models.index(model) if model in models else models.index("pop") - 0.5,
        model,
        variants.index(variant) if variant in variants else len(variants),
        variant,
    )


def display_name(model: str, variant: str) -> str:
    return MODEL_NAMES.get(model, model) + VARIANT_NAMES.get(variant, f"-{variant}")


def _format_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def swept_label(values: Mapping[str, Any]) -> str:
    """`alpha=0.01, lr=0.001` from dotted keys; settings a run does not use are left out."""
    parts = [
        f"{key.rsplit('.', 1)[-1]}={_format_value(value)}"
        for key, value in sorted(values.items())
        if not (isinstance(value, float) and math.isnan(value))
    ]
    return ", ".join(parts)


def run_label(model: str, variant: str, values: Mapping[str, Any] | None = None) -> str:
    """`GRU4Rec-RecG (alpha=0.01)`; the plain name when no swept value applies."""
    suffix = swept_label(values or {})
    return display_name(model, variant) + (f" ({suffix})" if suffix else "")


def varying(frame: pd.DataFrame) -> list[str]:
    """Swept columns with more than one value in `frame`: the ones a label must show."""
    return [c for c in swept_columns(frame) if frame[c].dropna().nunique() > 1]


def ordered_keys(frame: pd.DataFrame, keys: Sequence[str]) -> list[tuple]:
    """Distinct values of (model, variant, *swept) in the paper's column order, NaN first."""
    return sorted(
        (tuple(row) for row in frame[list(keys)].drop_duplicates().itertuples(index=False)),
        key=lambda key: (column_order(key[:2]), [_sortable(v) for v in key[2:]]),
    )


def _sortable(value: Any) -> tuple:
    if isinstance(value, float) and math.isnan(value):
        return (0, 0.0, "")
    if isinstance(value, int | float | np.number):
        return (1, float(value), "")
    return (2, 0.0, str(value))


def matching(frame: pd.DataFrame, columns: Sequence[str], key: tuple) -> pd.Series:
    """Rows equal to `key` on `columns`, where NaN matches NaN (a setting the run does not use)."""
    mask = pd.Series(True, index=frame.index)
    for column, value in zip(columns, key, strict=True):
        if isinstance(value, float) and math.isnan(value):
            mask &= frame[column].isna()
        else:
            mask &= frame[column] == value
    return mask


def _mean_std(values: pd.Series) -> str:
    mean = 100 * values.mean()
    if len(values) < 2:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {100 * values.std(ddof=1):.2f}"


def _std(values: pd.Series) -> float:
    return values.std(ddof=1) if len(values) > 1 else np.nan


def _part(frame: pd.DataFrame, protocol: str, k: int, in_domain: bool | None) -> pd.DataFrame:
    mask = (frame["protocol"] == protocol) & (frame["k"] == k)
    if in_domain is not None:
        same = frame["source"] == frame["target"]
        mask &= same if in_domain else ~same
    return frame[mask & frame["metric"].isin(list(METRIC_SHORT))]


def summarise(frame: pd.DataFrame, protocol: str, k: int, in_domain: bool) -> pd.DataFrame:
    """Mean and std over seeds of Recall@k and NDCG@k per run configuration."""
    part = _part(frame, protocol, k, in_domain)
    keys = ["source", "target", "model", "variant", *swept_columns(frame), "metric"]
    return (
        part.groupby(keys, sort=True, dropna=False)["value"]
        .agg(mean="mean", std=_std, seeds="count")
        .reset_index()
    )


def _pair_cell(group: pd.DataFrame) -> str:
    if group.empty:
        return ""
    recall = _mean_std(group[group["metric"] == "recall"]["value"])
    ndcg = _mean_std(group[group["metric"] == "ndcg"]["value"])
    return f"{recall} / {ndcg}"


def markdown_table(frame: pd.DataFrame, protocol: str, k: int, in_domain: bool) -> str:
    """Paper-shaped table (Table 3 zero-shot / Table 4 in-domain): R@k / N@k in %."""
    part = _part(frame, protocol, k, in_domain)
    if part.empty:
        return f"_No {'in-domain' if in_domain else 'zero-shot'} results for {protocol}._\n"
    shown = varying(part)
    keys = ["model", "variant", *shown]
    columns = ordered_keys(part, keys)
    rows = []
    for (source, target), group in part.groupby(["source", "target"], sort=True):
        row = {"Source": source, "Target": target}
        for key in columns:
            label = run_label(key[0], key[1], dict(zip(shown, key[2:], strict=True)))
            row[f"{label} R@{k} / N@{k}"] = _pair_cell(group[matching(group, keys, key)])
        rows.append(row)
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True) + "\n"


def paired_tests(frame: pd.DataFrame, baseline: str = "sem") -> pd.DataFrame:
    """Each variant against `baseline` of the same backbone: mean gain and paired t-test over seeds.

    The baseline does not use every swept setting (-Sem has no recg.* values), so rows pair only on
    the swept columns the baseline has; each output row carries the variant's swept values.
    """
    keys = ["source", "target", "model", "protocol", "metric", "k"]
    swept = swept_columns(frame)
    base = frame[frame["variant"] == baseline]
    shared = [c for c in swept if base[c].notna().any()]
    base = base[[*keys, "seed", *shared, "value"]]
    rows = []
    for variant in sorted(set(frame["variant"]) - {baseline, "base"}):
        other = frame[frame["variant"] == variant]
        merged = other.merge(base, on=[*keys, "seed", *shared], suffixes=("", "_base"))
        for key, group in merged.groupby([*keys, *swept], sort=True, dropna=False):
            diff = group["value"] - group["value_base"]
            p = np.nan
            if len(group) >= 2 and diff.std(ddof=1) > 1e-12:
                p = float(stats.ttest_rel(group["value"], group["value_base"]).pvalue)
            base_mean = group["value_base"].mean()
            rows.append(
                {
                    **dict(zip([*keys, *swept], key, strict=True)),
                    "variant": variant,
                    "settings": ";".join(sorted(set(group["settings"]))),
                    "baseline": baseline,
                    "seeds": len(group),
                    "mean": group["value"].mean(),
                    "baseline_mean": base_mean,
                    "gain": diff.mean(),
                    "relative_gain": diff.mean() / base_mean if base_mean else np.nan,
                    "p_value": p,
                }
            )
    order = [*keys[:3], "variant", "settings", *swept, *keys[3:]]
    tail = ["baseline", "seeds", "mean", "baseline_mean", "gain", "relative_gain", "p_value"]
    return pd.DataFrame(rows, columns=order + tail)


def data_stats(stats_by_domain: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Table 2: the filtered data each domain contributes."""
    rows = [
        {
            "Domain": domain,
            "#Users": int(s["users"]),
            "#Items": int(s["items"]),
            "#Interactions": int(s["interactions"]),
            "Density": float(s["density"]),
            "Avg. length": float(s["sequence_length"]["mean"]),
        }
        for domain, s in stats_by_domain.items()
    ]
    columns = ["Domain", "#Users", "#Items", "#Interactions", "Density", "Avg. length"]
    return pd.DataFrame(rows, columns=columns)


def data_stats_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "_No data statistics in this run._\n"
    shown = table.copy()
    for column in ("#Users", "#Items", "#Interactions"):
        shown[column] = shown[column].map("{:,}".format)
    shown["Density"] = shown["Density"].map(lambda d: f"{100 * d:.4f}%")
    shown["Avg. length"] = shown["Avg. length"].map("{:.2f}".format)
    return (
        shown.to_markdown(index=False, disable_numparse=True, colalign=["left"] + ["right"] * 5)
        + "\n"
    )


ABLATION_ORDER = ["sem", "recg", "recg-no-id", "recg-no-ic", "recg-no-ig", "recg-no-sg"]
ABLATION_STATS = ["target", "metric", "mean", "std", "seeds"]


def ablation(frame: pd.DataFrame, protocol: str, k: int) -> pd.DataFrame:
    """Table 5 in long form: zero-shot mean/std per ablation variant (and swept values, where they
    vary), for the (source, model) pairs that ran more than the two main variants."""
    part = _part(frame, protocol, k, in_domain=False)
    part = part[part["variant"].isin(ABLATION_ORDER)]
    counts = part.groupby(["source", "model"])["variant"].nunique()
    keep = set(counts[counts > 2].index)
    part = part[[key in keep for key in zip(part["source"], part["model"], strict=True)]]
    shown = varying(part)
    keys = ["source", "model", "variant", *shown]
    if part.empty:
        return pd.DataFrame(columns=[*keys, *ABLATION_STATS])
    table = (
        part.groupby([*keys, "target", "metric"], dropna=False)["value"]
        .agg(mean="mean", std=_std, seeds="count")
        .reset_index()
    )
    table["order"] = table["variant"].map(ABLATION_ORDER.index)
    table = table.sort_values(["source", "model", "order", *shown, "target", "metric"])
    return table.drop(columns="order").reset_index(drop=True)[[*keys, *ABLATION_STATS]]


def _cell(mean: float, std: float) -> str:
    return f"{100 * mean:.2f}" if np.isnan(std) else f"{100 * mean:.2f} ± {100 * std:.2f}"


def ablation_markdown(table: pd.DataFrame, k: int) -> str:
    if table.empty:
        return "_No ablation variants in this run._\n"
    shown = [c for c in table.columns if c not in {"source", "model", "variant", *ABLATION_STATS}]
    parts = []
    for (source, model), group in table.groupby(["source", "model"], sort=True):
        rows = []
        for key in ordered_keys(group, ["model", "variant", *shown]):
            row = {"Variant": run_label(model, key[1], dict(zip(shown, key[2:], strict=True)))}
            sel = group[matching(group, ["model", "variant", *shown], key)]
            for target in sorted(set(group["target"])):
                cells = {
                    r.metric: _cell(r.mean, r.std)
                    for r in sel[sel["target"] == target].itertuples()
                }
                row[f"{target} R@{k} / N@{k}"] = (
                    f"{cells.get('recall', '')} / {cells.get('ndcg', '')}" if cells else ""
                )
            rows.append(row)
        title = f"### {MODEL_NAMES.get(model, model)} trained on {source}\n\n"
        parts.append(
            title + pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True) + "\n"
        )
    return "\n".join(parts)


GAIN_COLUMNS = [
    "model",
    "protocol",
    "variant",
    "setting",
    "metric",
    "k",
    "mean_relative_gain",
    "max_relative_gain",
    "wins",
    "losses",
    "pairs",
]


def gains(tests: pd.DataFrame, k: int) -> pd.DataFrame:
    """How often and by how much each variant beats the baseline across source→target pairs."""
    part = tests[tests["k"] == k]
    swept = _swept_in_tests(tests)
    if part.empty:
        return pd.DataFrame(columns=GAIN_COLUMNS[:3] + swept + GAIN_COLUMNS[3:])
    part = part.assign(
        setting=np.where(part["source"] == part["target"], "in-domain", "zero-shot"),
        win=(part["p_value"] < SIGNIFICANCE) & (part["gain"] > 0),
        loss=(part["p_value"] < SIGNIFICANCE) & (part["gain"] < 0),
    )
    keys = ["model", "protocol", "variant", *swept, "setting", "metric", "k"]
    table = (
        part.groupby(keys, sort=True, dropna=False)
        .agg(
            mean_relative_gain=("relative_gain", "mean"),
            max_relative_gain=("relative_gain", "max"),
            wins=("win", "sum"),
            losses=("loss", "sum"),
            pairs=("relative_gain", "size"),
        )
        .reset_index()
    )
    return table.astype({"wins": int, "losses": int, "pairs": int})


def _swept_in_tests(tests: pd.DataFrame) -> list[str]:
    fixed = {"variant", "settings", "baseline", "seeds", "mean", "baseline_mean", "gain"}
    fixed |= {"relative_gain", "p_value", *COLUMNS}
    return [c for c in tests.columns if c not in fixed]


def gains_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "_No paired comparisons in this run._\n"
    swept = [c for c in table.columns if c not in GAIN_COLUMNS and table[c].dropna().nunique() > 1]
    rows = pd.DataFrame(
        {
            "Model": [MODEL_NAMES.get(m, m) for m in table["model"]],
            "Protocol": table["protocol"],
            "Variant": [
                run_label(m, v, values).removeprefix(MODEL_NAMES.get(m, m))
                for m, v, values in zip(
                    table["model"], table["variant"], table[swept].to_dict("records"), strict=True
                )
            ],
            "Setting": table["setting"],
            "Metric": [
                f"{METRIC_SHORT.get(m, m)}@{k}"
                for m, k in zip(table["metric"], table["k"], strict=True)
            ],
            "Mean rel. gain": table["mean_relative_gain"].map(lambda g: f"{100 * g:+.2f}%"),
            "Max rel. gain": table["max_relative_gain"].map(lambda g: f"{100 * g:+.2f}%"),
            "Wins": table["wins"],
            "Losses": table["losses"],
            "Pairs": table["pairs"],
        }
    )
    return rows.to_markdown(index=False, disable_numparse=True) + "\n"


SWEEP_METRICS = ["recall_mean", "recall_std", "ndcg_mean", "ndcg_std", "seeds"]


def sweep(
    frame: pd.DataFrame, protocol: str, k: int, base_settings: set[str] | None
) -> pd.DataFrame:
    """Every run outside the main grid, with R@k and N@k over seeds, one row per swept point."""
    swept = swept_columns(frame)
    columns = ["source", "target", "model", "variant", *swept, *SWEEP_METRICS]
    if base_settings is None:
        return pd.DataFrame(columns=columns)
    part = _part(frame, protocol, k, in_domain=None)
    part = part[~part["settings"].isin(base_settings)]
    if part.empty:
        return pd.DataFrame(columns=columns)
    keys = ["source", "target", "model", "variant", *swept]
    table = (
        part.groupby([*keys, "metric"], sort=True, dropna=False)["value"]
        .agg(mean="mean", std=_std, seeds="count")
        .reset_index()
        .pivot_table(
            index=keys,
            columns="metric",
            values=["mean", "std", "seeds"],
            dropna=False,
            sort=True,
        )
    )
    table.columns = [f"{metric}_{stat}" for stat, metric in table.columns]
    table = table.reset_index().dropna(subset=["recall_mean", "ndcg_mean"], how="all")
    table["seeds"] = table[["recall_seeds", "ndcg_seeds"]].max(axis=1).astype(int)
    return table[columns].reset_index(drop=True)


def sweep_markdown(table: pd.DataFrame, k: int) -> str:
    if table.empty:
        return "_No sweep in this run._\n"
    swept = [
        c
        for c in table.columns
        if c not in {"source", "target", "model", "variant", *SWEEP_METRICS}
    ]
    shown = pd.DataFrame(
        {
            "Source": table["source"],
            "Target": table["target"],
            "Model": [
                display_name(m, v) for m, v in zip(table["model"], table["variant"], strict=True)
            ],
            **{c: table[c].map(lambda v: "" if pd.isna(v) else _format_value(v)) for c in swept},
            f"R@{k}": [
                _cell(m, s) for m, s in zip(table["recall_mean"], table["recall_std"], strict=True)
            ],
            f"N@{k}": [
                _cell(m, s) for m, s in zip(table["ndcg_mean"], table["ndcg_std"], strict=True)
            ],
            "Seeds": table["seeds"],
        }
    )
    return shown.to_markdown(index=False, disable_numparse=True) + "\n"


def aggregate(
    metric_files: Sequence[str | os.PathLike],
    outputs: Mapping[str, str | os.PathLike],
    protocol: str,
    k: int = 10,
    stats_files: Mapping[str, str | os.PathLike] | None = None,
    base_settings: set[str] | None = None,
    swept_keys: Iterable[str] = (),
) -> pd.DataFrame:
    """Write metrics.csv, Tables 2-5, the paired tests, the gain summary, the sweep table and the
    zero-shot and in-domain figures. With `base_settings`, Tables 3-5 and the figures show only
    the main grid; every other run goes to the sweep table."""
    from recg.figures import plot_results

    frame = collect(metric_files, swept_keys)
    _write_csv(frame, outputs["metrics"])
    grid = frame if base_settings is None else frame[frame["settings"].isin(base_settings)]
    for name, in_domain in (("zero_shot", False), ("in_domain", True)):
        parts = [
            f"## {'In-domain' if in_domain else 'Zero-shot'}: R@{k} / N@{k} (%), mean ± std over seeds\n"
        ]
        for proto in sorted(grid["protocol"].unique(), key=lambda p: p != protocol):
            parts.append(
                f"\n### Protocol `{proto}`\n\n" + markdown_table(grid, proto, k, in_domain)
            )
        write_markdown("".join(parts), outputs[f"{name}_md"])
        tables = [
            summarise(grid, proto, k, in_domain).assign(protocol=proto)
            for proto in grid["protocol"].unique()
        ]
        _write_csv(pd.concat(tables, ignore_index=True), outputs[f"{name}_csv"])
        plot_results(grid, outputs[f"{name}_png"], protocol, k, in_domain=in_domain)
    tests = paired_tests(frame)
    _write_csv(tests, outputs["tests"])
    gain_table = gains(tests, k)
    _write_csv(gain_table, outputs["gains_csv"])
    write_markdown(gains_markdown(gain_table), outputs["gains_md"])
    stats_table = data_stats({d: read_json(p) for d, p in (stats_files or {}).items()})
    _write_csv(stats_table, outputs["data_stats_csv"])
    write_markdown(data_stats_markdown(stats_table), outputs["data_stats_md"])
    ablation_table = ablation(grid, protocol, k)
    _write_csv(ablation_table, outputs["ablation_csv"])
    write_markdown(ablation_markdown(ablation_table, k), outputs["ablation_md"])
    sweep_table = sweep(frame, protocol, k, base_settings)
    _write_csv(sweep_table, outputs["sweep_csv"])
    write_markdown(sweep_markdown(sweep_table, k), outputs["sweep_md"])
    return frame


CHOICE_COLUMNS = ["source", "target", "model", "variant", "settings", "chosen", "validated_on"]


def selected(
    frame: pd.DataFrame, choices: Sequence[Mapping[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test rows of each chosen setting (swept columns dropped, so variants pair on seeds
    whatever each chose), and one row per choice with its validation score."""
    kept, rows = [], []
    for c in choices:
        mask = (
            (frame["source"] == c["source"])
            & (frame["target"] == c["test_target"])
            & (frame["model"] == c["model"])
            & (frame["variant"] == c["variant"])
            & (frame["settings"] == c["chosen"])
        )
        if not mask.any():
            raise ValueError(
                f"no test results of the chosen settings {c['chosen']} for {c['source']} -> "
                f"{c['test_target']} {c['model']}-{c['variant']}"
            )
        kept.append(frame[mask])
        rows.append(
            {
                "source": c["source"],
                "target": c["test_target"],
                "model": c["model"],
                "variant": c["variant"],
                "settings": c["chosen"],
                "chosen": swept_label(c["chosen_values"]),
                "validated_on": ", ".join(c["validation_domains"]),
                "validation_score": c["score"],
                "candidates": len(c["candidates"]),
            }
        )
    results = pd.concat(kept, ignore_index=True)[COLUMNS] if kept else frame[COLUMNS].iloc[:0]
    return results, pd.DataFrame(rows, columns=[*CHOICE_COLUMNS, "validation_score", "candidates"])


def selected_markdown(
    results: pd.DataFrame, table: pd.DataFrame, tests: pd.DataFrame, protocol: str, k: int
) -> str:
    shown = pd.DataFrame(
        {
            "Source": table["source"],
            "Target": table["target"],
            "Model": [
                display_name(m, v) for m, v in zip(table["model"], table["variant"], strict=True)
            ],
            "Chosen": table["chosen"].replace("", "(one candidate)"),
            "Validated on": table["validated_on"],
            "Validation score": table["validation_score"].map("{:.4f}".format),
            "Candidates": table["candidates"],
        }
    )
    parts = [
        f"## Selected settings: zero-shot test R@{k} / N@{k} (%), mean ± std over seeds\n\n"
        "Each setting was chosen on validation targets only; the test target never took part.\n"
    ]
    for proto in sorted(results["protocol"].unique(), key=lambda p: p != protocol):
        parts.append(f"\n### Protocol `{proto}`\n\n" + markdown_table(results, proto, k, False))
    part = tests[(tests["protocol"] == protocol) & (tests["k"] == k)]
    if not part.empty:
        significance = pd.DataFrame(
            {
                "Source": part["source"],
                "Target": part["target"],
                "Model": [
                    display_name(m, v) for m, v in zip(part["model"], part["variant"], strict=True)
                ],
                "Metric": part["metric"].map(lambda m: f"{METRIC_SHORT.get(m, m)}@{k}"),
                "Gain over -Sem": part["relative_gain"].map("{:+.1%}".format),
                "p (paired t)": part["p_value"].map(lambda p: "" if pd.isna(p) else f"{p:.3g}"),
                "Seeds": part["seeds"],
            }
        )
        parts.append(
            f"\n### Selected variants against selected -Sem (`{protocol}`)\n\n"
            + significance.to_markdown(index=False, disable_numparse=True)
            + "\n"
        )
    parts.append(
        "\n### The choices\n\n" + shown.to_markdown(index=False, disable_numparse=True) + "\n"
    )
    return "".join(parts)


def write_selected(
    metrics_csv: str | os.PathLike,
    choice_files: Sequence[str | os.PathLike],
    outputs: Mapping[str, str | os.PathLike],
    protocol: str,
    k: int = 10,
) -> pd.DataFrame:
    """The test tables of selected settings: Markdown, results CSV, choices CSV and tests."""
    frame = read_table(metrics_csv)
    results, table = selected(frame, [read_json(p) for p in choice_files])
    tests = paired_tests(results)
    _write_csv(
        pd.concat(
            [
                summarise(results, p, k, False).assign(protocol=p)
                for p in results["protocol"].unique()
            ],
            ignore_index=True,
        ),
        outputs["results_csv"],
    )
    _write_csv(table, outputs["choices_csv"])
    _write_csv(tests, outputs["tests"])
    write_markdown(selected_markdown(results, table, tests, protocol, k), outputs["table"])
    return table


def _setting_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_setting_value(v) for v in value) if value else "(none)"
    if value is None:
        return "null"
    return f"`{value}`" if isinstance(value, str) else str(value)


def _setting_rows(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            rows.extend(_setting_rows(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", "(none)" if value == {} else _setting_value(value)))
    return rows


def configuration_markdown(config: Mapping[str, Any]) -> str:
    """Every setting of the run, defaults included, one row per dotted key, a section per part."""
    parts = ["# Configuration of this run\n\nEvery setting, with the defaults filled in.\n"]
    for section, value in config.items():
        if isinstance(value, Mapping):
            rows = _setting_rows(value) or [("(empty)", "")]
        else:
            rows = [(section, _setting_value(value))]
        table = pd.DataFrame(rows, columns=["Setting", "Value"])
        parts.append(
            f"\n## {section}\n\n" + table.to_markdown(index=False, disable_numparse=True) + "\n"
        )
    return "".join(parts)
