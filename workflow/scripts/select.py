"""Choose one (source, backbone, variant)'s settings for a test target on validation targets."""

from recg.runner import run_rule
from recg.selection import select_to_file


def main(sm, log):
    choice = select_to_file(
        sm.input.validation,
        sm.output[0],
        sm.wildcards.target,
        sm.params.protocol,
        sm.params.metric,
        sm.params.k,
        sm.params.swept,
    )
    log(
        f"chose {choice['chosen']} {choice['chosen_values']} of {len(choice['candidates'])} "
        f"on {', '.join(choice['validation_domains'])}: {choice['score']:.4f}"
    )


run_rule(snakemake, main)
