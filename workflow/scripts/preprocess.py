"""Raw reviews + metadata -> items.parquet, sequences.parquet, stats.json."""

from recg.data import DomainSpec, preprocess_to_files
from recg.runner import run_rule


def main(sm, log):
    spec = DomainSpec(**sm.params.spec)
    preprocess_to_files(spec, sm.output.item_table, sm.output.sequences, sm.output.stats, log)


run_rule(snakemake, main)
