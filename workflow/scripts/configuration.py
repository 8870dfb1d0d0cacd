"""Every setting of the run as one readable report page."""

from recg.io import write_text
from recg.report import configuration_markdown
from recg.runner import run_rule


def main(sm, log):
    write_text(configuration_markdown(sm.params.config), sm.output[0])
    log(f"{len(sm.params.config)} sections")


run_rule(snakemake, main)
