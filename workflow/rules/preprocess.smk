rule preprocess:
    input:
        reviews=domain_file("reviews"),
        meta=domain_file("meta"),
    output:
        item_table="results/data/{domain}/{data}/items.parquet",
        sequences="results/data/{domain}/{data}/sequences.parquet",
        stats="results/data/{domain}/{data}/stats.json",
    log:
        "logs/preprocess/{domain}/{data}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=lambda wc, input, attempt: int(
            min(max(2000, 10 * input.size_mb), 64000) * attempt
        ),
        runtime=lambda wc, input, attempt: int(max(10, input.size_mb / 20) * attempt),
    params:
        code=code("preprocess"),
        spec=preprocess_spec,
        data=checked(DATA_ID, "data"),
    script:
        "../scripts/preprocess.py"


rule negatives:
    input:
        item_table="results/data/{domain}/{data}/items.parquet",
        sequences="results/data/{domain}/{data}/sequences.parquet",
    output:
        "results/data/{domain}/{data}/negatives-{negatives}.parquet",
    log:
        "logs/negatives/{domain}/{data}-{negatives}.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    params:
        code=code("negatives"),
        n=config["evaluation"]["negatives"],
        seed=config["evaluation"]["negatives_seed"],
    script:
        "../scripts/negatives.py"
