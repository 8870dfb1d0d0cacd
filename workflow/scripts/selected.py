"""Test-target results of the settings chosen on validation targets, with paired tests."""

from recg.report import write_selected
from recg.runner import run_rule


def main(sm, log):
    choices = write_selected(
        sm.input.metrics, sm.input.choices, dict(sm.output.items()), sm.params.protocol, sm.params.k
    )
    log(f"{len(choices)} choices")


run_rule(snakemake, main)
