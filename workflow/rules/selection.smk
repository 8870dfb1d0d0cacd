# Settings chosen on validation targets (config key `selection`); see docs/method.md.


use rule evaluate as validate with:
    output:
        "results/validation/{source}/{target}/{scoring}/{model}-{variant}/{settings}/seed{seed}.json",
    log:
        "logs/validate/{source}/{target}/{scoring}/{model}-{variant}/{settings}/seed{seed}.log",
    benchmark:
        "results/benchmarks/validate/{source}/{target}/{scoring}/{model}-{variant}/{settings}/seed{seed}.tsv"
    params:
        split="valid",


rule select:
    input:
        validation=validation_files,
    output:
        "results/selection/{source}/{target}/{model}-{variant}.json",
    log:
        "logs/select/{source}/{target}/{model}-{variant}.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("select"),
        protocol=SELECTION_PROTOCOL,
        metric=SELECTION["metric"],
        k=SELECTION["k"],
        swept=SWEPT,
    script:
        "../scripts/select.py"


rule selected:
    input:
        metrics=rules.aggregate.output.metrics,
        choices=selection_files,
    output:
        table="results/tables/selected.md",
        html=report(
            "results/tables/selected.html",
            caption="../report/selected.rst",
            category="Tables",
            labels={"table": "selected"},
        ),
        results_csv="results/tables/selected.csv",
        choices_csv="results/tables/selection.csv",
        tests="results/tables/selected_significance.csv",
    log:
        "logs/selected.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("selected"),
        protocol=SAMPLED,
        k=SELECTION["k"],
    script:
        "../scripts/selected.py"
