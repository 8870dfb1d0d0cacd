rule train:
    input:
        unpack(training_inputs),
    output:
        model="results/models/{source}/{model}-{variant}/{settings}/seed{seed}/model.pt",
        config="results/models/{source}/{model}-{variant}/{settings}/seed{seed}/config.json",
        history="results/models/{source}/{model}-{variant}/{settings}/seed{seed}/train_log.csv",
    log:
        "logs/train/{source}/{model}-{variant}/{settings}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{source}/{model}-{variant}/{settings}/seed{seed}.tsv"
    conda:
        CONDA_ENV
    # One thread keeps training bitwise reproducible; more (--set-threads train=N) changes
    # float rounding only. Small models gain little from threads: run jobs in parallel instead.
    threads: 1
    resources:
        **gpu_resources(GPU_TRAIN),
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 240 * attempt,
    params:
        code=model_code("train"),
        settings=train_settings,
    script:
        "../scripts/train.py"
