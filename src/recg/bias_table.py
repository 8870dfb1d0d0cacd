"""The semantic-bias table: every encoder's and trained model's diagnostics, mean ± std over seeds."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from recg.diagnostics import BASELINES, METRICS
from recg.io import read_table, write_csv
from recg.pages import write_markdown
from recg.report import display_name

SPACE_ORDER = ["llm", "llm-centred", "llm-whitened", "W_p", "W_a", "merged"]
MODEL_KEYS = ["source", "model", "variant", "settings", "space"]
HEADER = """## Semantic bias: how well an item's domain can be read from its vector

Each cell is mean ± std over seeds (a single value for one seed), with the value expected
without domain bias in brackets. Probe: cross-validated accuracy of a linear classifier predicting
the domain (bracket: the majority-class rate). k-NN: share of an item's cosine nearest neighbours
from its own domain (bracket: chance). Centres: mean distance between domain centres over the
within-domain spread (0 without bias). Spaces: `llm` the frozen LLM table (as the model reads it),
`llm-centred` / `llm-whitened` the tables of sem-center / sem-whiten, `W_p` the projection,
`W_a` -RecG's aligned projection, `merged` what -RecG's backbone reads.
"""


def _read(files: Sequence[str | os.PathLike]) -> pd.DataFrame:
    frames = [read_table(f) for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _space_rank(spaces: pd.Series) -> pd.Series:
    return spaces.map(lambda s: SPACE_ORDER.index(s) if s in SPACE_ORDER else len(SPACE_ORDER))


def summarise(encoder_files: Sequence[str], model_files: Sequence[str]) -> pd.DataFrame:
    """One row per encoder space and per (source, model, variant, settings, space) over seeds."""
    encoder = _read(encoder_files)
    models = _read(model_files)
    if not encoder.empty:
        encoder = encoder.assign(
            scope="encoder", source="-", model=encoder["encoder"], variant="-", settings="-", seed=0
        )
    if not models.empty:
        models = models.assign(scope="model")
    frame = pd.concat([encoder, models], ignore_index=True)
    if frame.empty:
        raise ValueError("no diagnostics to summarise")
    keys = ["scope", *MODEL_KEYS]
    grouped = frame.groupby(keys, sort=False)
    table = grouped[list(BASELINES)].mean()
    table["seeds"] = grouped["seed"].nunique()
    for metric in METRICS:
        table[f"{metric}_mean"] = grouped[metric].mean()
        table[f"{metric}_std"] = grouped[metric].std(ddof=1)
    table = table.reset_index()
    table["order"] = _space_rank(table["space"])
    table = table.sort_values(["scope", "source", "model", "variant", "settings", "order"])
    columns = [*keys, "seeds", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std")), *BASELINES]
    return table[columns].reset_index(drop=True)


def _cell(mean: float, std: float, reference: float | None = None) -> str:
    text = f"{mean:.3f}" if np.isnan(std) else f"{mean:.3f} ± {std:.3f}"
    return text if reference is None else f"{text} ({reference:.3f})"


def markdown(table: pd.DataFrame) -> str:
    """The encoder's spaces, then every trained model's, as Markdown."""
    rows = []
    for row in table.itertuples(index=False):
        encoder = row.scope == "encoder"
        rows.append(
            {
                "source": "all domains" if encoder else row.source,
                "model": f"encoder {row.model}"
                if encoder
                else display_name(row.model, row.variant),
                "settings": row.settings,
                "space": row.space,
                "seeds": row.seeds,
                "probe": _cell(row.probe_accuracy_mean, row.probe_accuracy_std, row.majority_rate),
                "k-NN purity": _cell(row.knn_purity_mean, row.knn_purity_std, row.knn_expected),
                "centres / spread": _cell(row.centre_ratio_mean, row.centre_ratio_std),
            }
        )
    shown = pd.DataFrame(rows)
    if shown["settings"].nunique() <= 2:
        shown = shown.drop(columns="settings")
    return HEADER + "\n" + shown.to_markdown(index=False, disable_numparse=True) + "\n"


def bias_table(
    encoder_files: Sequence[str],
    model_files: Sequence[str],
    out_md: str | os.PathLike,
    out_csv: str | os.PathLike,
) -> pd.DataFrame:
    """Write results/tables/diagnostics.{md,csv}."""
    table = summarise(encoder_files, model_files)
    write_csv(table, out_csv)
    write_markdown(markdown(table), out_md)
    return table
