"""Semantic-bias diagnostics of the encoder's tables: raw, per-domain centred and whitened."""

from recg.bias_jobs import BiasSettings, encoder_bias_to_file
from recg.runner import run_rule


def main(sm, log):
    frame = encoder_bias_to_file(
        dict(zip(sm.params.domains, sm.input.embeddings, strict=True)),
        sm.output[0],
        BiasSettings(**sm.params.settings),
        sm.params.whiten_eps,
        {"encoder": sm.wildcards.encoder},
    )
    log(frame.to_string(index=False))


run_rule(snakemake, main)
