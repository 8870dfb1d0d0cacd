"""recg: zero-shot cross-domain sequential recommendation with LLM item embeddings (LLM-RecG).

A --configfile on the command line replaces config/config.yaml; missing keys take the schema's
defaults (workflow/schemas/config.schema.yaml, documented in config/README.md).
"""

from snakemake.utils import min_version

min_version("9.0")


if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    domain=alternatives(DOMAINS),
    demo_domain=alternatives(DEMO),
    source=alternatives(ALL_SOURCES),
    target=alternatives(sorted({*ALL_TARGETS, *VALIDATION_DOMAINS})),
    model=alternatives(MODELS),
    variant=alternatives(VARIANTS),
    settings=alternatives(SETTINGS_IDS),
    seed=r"\d+",
    key=alternatives(k.replace(".", r"\.") for k in NUMERIC_SWEPT),
    encoder=ENCODER,
    data=alternatives(sorted(set(DATA_ID.values()))),
    encoding=alternatives(sorted(set(ENCODING_ID.values()))),
    scoring=alternatives(sorted(set(SCORING_ID.values()))),
    negatives=NEGATIVES,


include: "workflow/rules/demo.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/selection.smk"
include: "workflow/rules/diagnostics.smk"


rule all:
    default_target: True
    input:
        final_outputs(),


rule all_data:
    input:
        [data_file(d, n) for d in DOMAINS for n in DATA_FILES],


rule all_embeddings:
    input:
        [embeddings(d) for d in DOMAINS],
