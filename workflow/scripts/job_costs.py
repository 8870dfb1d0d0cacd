"""Per-rule wall time and peak memory of the embed, train and evaluate jobs."""

from recg.job_costs import summarise, write
from recg.runner import run_rule


def main(sm, log):
    rows = summarise(sm.params.benchmarks)
    write(rows, sm.output.csv, sm.output.md)
    for row in rows:
        log(f"{row['rule']}: {row['recorded']} of {row['jobs']} jobs have a benchmark record")


run_rule(snakemake, main)
