"""In-domain most-popular baseline of a target domain."""

from recg.evaluate import popularity_to_file
from recg.runner import run_rule


def main(sm, log):
    t = sm.wildcards.target
    labels = {
        "source": t,
        "target": t,
        "model": "pop",
        "variant": "base",
        "settings": "-",
        "seed": 0,
    }
    popularity_to_file(
        sm.input.sequences,
        sm.input.item_table,
        sm.input.negatives,
        sm.output[0],
        labels,
        sm.params.ks,
    )


run_rule(snakemake, main)
