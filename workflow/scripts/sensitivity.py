"""Metrics against one swept setting (the paper's Fig. 2 for alpha)."""

import pandas as pd

from recg.figures import plot_sensitivity
from recg.runner import run_rule


def main(sm, log):
    frame = pd.read_csv(sm.input.metrics)
    plot_sensitivity(frame, sm.wildcards.key, sm.output[0], sm.params.protocol)
    log(f"{sm.wildcards.key}: {frame[sm.wildcards.key].nunique()} values")


run_rule(snakemake, main)
