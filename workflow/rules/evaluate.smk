rule evaluate:
    input:
        unpack(target_inputs),
        model=rules.train.output.model,
        config=rules.train.output.config,
    output:
        "results/metrics/{source}/{target}/{scoring}/{model}-{variant}/{settings}/seed{seed}.json",
    log:
        "logs/evaluate/{source}/{target}/{scoring}/{model}-{variant}/{settings}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{source}/{target}/{scoring}/{model}-{variant}/{settings}/seed{seed}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        **gpu_resources(GPU_TRAIN),
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        code=model_code("evaluate"),
        ks=config["evaluation"]["ks"],
        batch_size=config["evaluation"]["batch_size"],
        device=config["train"]["device"],
        settings_values=settings_values,
        split="test",
        scoring=checked(SCORING_ID, "scoring", "target"),
    script:
        "../scripts/evaluate.py"


rule evaluate_popularity:
    input:
        item_table=of("target", items_of),
        sequences=of("target", sequences_of),
        negatives=of("target", negatives_of),
    output:
        "results/metrics/{target}/{target}/{scoring}/pop-base/seed0.json",
    log:
        "logs/evaluate/{target}/{target}/{scoring}/pop-base/seed0.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("evaluate_popularity"),
        ks=config["evaluation"]["ks"],
        scoring=checked(SCORING_ID, "scoring", "target"),
    script:
        "../scripts/evaluate_popularity.py"
