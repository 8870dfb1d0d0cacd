"""Embed a domain's item texts with the configured encoder (through the shared cache)."""

from recg.embed import EncoderSettings, embed_items
from recg.runner import run_rule


def main(sm, log):
    encoder = dict(sm.params.encoder)
    cache = encoder.pop("cache")
    meta = embed_items(
        sm.input.item_table,
        sm.output[0],
        EncoderSettings.from_config(encoder),
        cache,
        sm.params.template,
    )
    log(f"wrote {meta['rows']} x {meta['dim']} embeddings (fingerprint {meta['fingerprint']})")


run_rule(snakemake, main)
