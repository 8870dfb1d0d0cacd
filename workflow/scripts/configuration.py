"""Every setting of the run as one readable report page."""

from recg.pages import write_markdown
from recg.report import configuration_markdown
from recg.runner import run_rule


def main(sm, log):
    write_markdown(configuration_markdown(sm.params.config), sm.output.md)
    log(f"{len(sm.params.config)} sections")


run_rule(snakemake, main)
