"""Train one (source, model, variant, seed) on the source domain."""

from recg.runner import run_rule
from recg.settings import TrainSettings
from recg.train import train_to_files


def main(sm, log):
    train_to_files(
        TrainSettings(**sm.params.settings),
        sm.input.sequences,
        sm.input.embeddings,
        sm.input.other_domains,
        sm.output.model,
        sm.output.config,
        sm.output.history,
        source=sm.wildcards.source,
        items_path=sm.input.item_table,
        log=log,
    )


run_rule(snakemake, main)
