"""Loss and validation NDCG@10 per epoch of every run of one backbone on one source."""

import pandas as pd

from recg.figures import plot_training_curves
from recg.report import MODEL_NAMES, run_label
from recg.runner import run_rule


def main(sm, log):
    w = sm.wildcards
    runs = []
    for name, path in sm.input.items():
        if name == "code":
            continue
        variant, _, seed = name.split("/")
        label = f"{run_label(w.model, variant, sm.params.swept[name])}, {seed}"
        runs.append((label, pd.read_csv(path)))
    title = f"{MODEL_NAMES.get(w.model, w.model)} trained on {w.source}"
    plot_training_curves(runs, sm.output[0], title)
    log(f"{len(runs)} runs")


run_rule(snakemake, main)
