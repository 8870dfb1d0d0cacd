"""Zero-shot (or in-domain) evaluation of a source model on a target domain."""

from recg.evaluate import evaluate_to_file
from recg.runner import run_rule


def main(sm, log):
    w = sm.wildcards
    labels = {
        "source": w.source,
        "target": w.target,
        "model": w.model,
        "variant": w.variant,
        "settings": w.settings,
        "seed": int(w.seed),
        "settings_values": sm.params.settings_values,
    }
    evaluate_to_file(
        sm.input.model,
        sm.input.config,
        sm.input.sequences,
        sm.input.item_table,
        sm.input.embeddings,
        sm.input.negatives,
        sm.output[0],
        labels,
        sm.params.ks,
        sm.params.batch_size,
        log,
        sm.params.device,
        sm.params.split,
    )


run_rule(snakemake, main)
