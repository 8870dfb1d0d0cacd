"""Semantic-bias diagnostics of one trained model's item spaces, on every domain's items."""

from recg.bias_jobs import BiasSettings
from recg.model_bias import model_bias_to_file
from recg.runner import run_rule


def main(sm, log):
    w = sm.wildcards
    frame = model_bias_to_file(
        sm.input.model,
        sm.input.config,
        dict(zip(sm.params.domains, sm.input.embeddings, strict=True)),
        sm.output[0],
        BiasSettings(**sm.params.settings),
        {
            "source": w.source,
            "model": w.model,
            "variant": w.variant,
            "settings": w.settings,
            "seed": int(w.seed),
        },
    )
    log(frame.to_string(index=False))


run_rule(snakemake, main)
