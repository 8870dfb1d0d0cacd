"""Collect every metrics JSON into the tidy table, the summary tables, the tests and the figures."""

from recg.report import aggregate
from recg.runner import run_rule


def main(sm, log):
    frame = aggregate(
        sm.input.metrics,
        dict(sm.output.items()),
        sm.params.protocol,
        stats_files=sm.params.stats,
        base_settings=set(sm.params.base_settings),
        swept_keys=sm.params.swept,
    )
    log(f"{len(frame)} metric rows from {len(sm.input.metrics)} evaluations")


run_rule(snakemake, main)
