rule demo_domain:
    output:
        reviews="data/demo/{demo_domain}.jsonl.gz",
        meta="data/demo/meta_{demo_domain}.jsonl.gz",
    log:
        "logs/demo/{demo_domain}.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("demo_domain"),
        users=config["demo"]["users"],
        seed=config["demo"]["seed"],
    script:
        "../scripts/demo_domain.py"
