"""Generate one demo domain in the Amazon Reviews 2023 raw layout."""

from recg.demo import generate
from recg.runner import run_rule


def main(sm, log):
    generate(
        sm.wildcards.demo_domain, sm.output.reviews, sm.output.meta, sm.params.users, sm.params.seed
    )
    log(f"wrote {sm.output.reviews} and {sm.output.meta}")


run_rule(snakemake, main)
