rule diagnostics_encoder:
    input:
        embeddings=[embeddings(d) for d in DOMAINS],
    output:
        "results/diagnostics/encoder/{encoder}/bias.csv",
    log:
        "logs/diagnostics/encoder/{encoder}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        code=code("diagnostics_encoder"),
        domains=DOMAINS,
        settings=BIAS_SETTINGS,
        whiten_eps=config["train"]["whiten_eps"],
    script:
        "../scripts/diagnostics_encoder.py"


rule diagnostics_model:
    input:
        model=rules.train.output.model,
        config=rules.train.output.config,
        embeddings=[embeddings(d) for d in DOMAINS],
    output:
        "results/diagnostics/models/{source}/{model}-{variant}/{settings}/seed{seed}.csv",
    log:
        "logs/diagnostics/models/{source}/{model}-{variant}/{settings}/seed{seed}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        code=model_code("diagnostics_model"),
        domains=DOMAINS,
        settings=BIAS_SETTINGS,
    script:
        "../scripts/diagnostics_model.py"


rule diagnostics_table:
    input:
        unpack(diagnostics_files),
    output:
        md="results/tables/diagnostics.md",
        html=report(
            "results/tables/diagnostics.html",
            caption="../report/diagnostics.rst",
            category="Semantic bias",
            labels={"table": "diagnostics"},
        ),
        csv="results/tables/diagnostics.csv",
    log:
        "logs/diagnostics/table.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("diagnostics_table"),
    script:
        "../scripts/diagnostics_table.py"
