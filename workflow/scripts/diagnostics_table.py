"""Gather the encoder's and the models' diagnostics into results/tables/diagnostics.{md,csv}."""

from recg.bias_table import bias_table
from recg.runner import run_rule


def main(sm, log):
    encoder = sm.input.get("encoder", [])
    models = sm.input.get("models", [])
    table = bias_table(encoder, models, sm.output.md, sm.output.csv)
    log(f"{len(table)} rows from {len(encoder)} encoder and {len(models)} model diagnostics")


run_rule(snakemake, main)
