"""Collect every metrics JSON into the tidy table, the summary tables, the tests and the plot."""

from recg.report import aggregate
from recg.runner import run_rule


def main(sm, log):
    frame = aggregate(sm.input.metrics, dict(sm.output.items()), sm.params.protocol)
    log(f"{len(frame)} metric rows from {len(sm.input.metrics)} evaluations")


run_rule(snakemake, main)
