"""Metrics against one swept setting (the paper's Fig. 2 for alpha)."""

from recg.figures import plot_sensitivity
from recg.io import read_table
from recg.runner import run_rule


def main(sm, log):
    frame = read_table(sm.input.metrics)
    plot_sensitivity(frame, sm.wildcards.key, sm.output[0], sm.params.protocol)
    log(f"{sm.wildcards.key}: {frame[sm.wildcards.key].nunique()} values")


run_rule(snakemake, main)
