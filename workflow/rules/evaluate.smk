rule evaluate:
    input:
        model=rules.train.output.model,
        config=rules.train.output.config,
        sequences="results/data/{target}/sequences.parquet",
        embeddings=embeddings("{target}"),
        negatives="results/data/{target}/negatives.parquet",
        code=model_code("evaluate"),
    output:
        "results/metrics/{source}/{target}/{model}-{variant}/{settings}/seed{seed}.json",
    log:
        "logs/evaluate/{source}/{target}/{model}-{variant}/{settings}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{source}/{target}/{model}-{variant}/{settings}/seed{seed}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **gpu_resources(GPU_TRAIN),
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        ks=config["evaluation"]["ks"],
        batch_size=config["evaluation"]["batch_size"],
        device=config["train"]["device"],
        settings_values=settings_values,
    script:
        "../scripts/evaluate.py"


rule evaluate_popularity:
    input:
        item_table="results/data/{target}/items.parquet",
        sequences="results/data/{target}/sequences.parquet",
        negatives="results/data/{target}/negatives.parquet",
        code=code("evaluate_popularity"),
    output:
        "results/metrics/{target}/{target}/pop-base/seed0.json",
    log:
        "logs/evaluate/{target}/{target}/pop-base/seed0.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        ks=config["evaluation"]["ks"],
    script:
        "../scripts/evaluate_popularity.py"
