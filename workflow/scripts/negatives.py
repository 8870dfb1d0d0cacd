"""Draw the shared sampled-protocol negatives of a domain."""

from recg.negatives import negatives_to_file
from recg.runner import run_rule


def main(sm, log):
    negatives_to_file(
        sm.input.sequences, sm.input.item_table, sm.output[0], sm.params.n, sm.params.seed
    )
    log(f"wrote {sm.params.n} negatives per user to {sm.output[0]}")


run_rule(snakemake, main)
