rule embed:
    input:
        item_table=of("domain", items_of),
        model=encoder_model,
    output:
        "results/embeddings/{encoder}/{domain}/{encoding}.parquet",
    log:
        "logs/embed/{encoder}/{domain}/{encoding}.log",
    benchmark:
        "results/benchmarks/embed/{encoder}/{domain}/{encoding}.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        **gpu_resources(GPU_ENCODER),
        mem_mb=lambda wc, attempt: (32000 if GPU_ENCODER else 8000) * attempt,
        runtime=lambda wc, attempt: 240 * attempt,
    params:
        code=code("embed"),
        encoder=encoder_settings,
        template=text_template,
        encoding=checked(ENCODING_ID, "encoding"),
    script:
        "../scripts/embed.py"


rule convert_smollm2:
    input:
        wheel=SMOLLM2_SOURCE,
    output:
        directory(SMOLLM2_DIR),
    log:
        "logs/convert/smollm2.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=code("convert_smollm2"),
    script:
        "../scripts/convert_smollm2.py"
