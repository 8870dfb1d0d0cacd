CSV_TABLES = {
    "metrics": ("metrics.csv", "metrics.rst"),
    "tests": ("significance.csv", "significance.rst"),
}
# each written as Markdown and as an HTML page, the page shown in the report
PAGES = ["zero_shot", "in_domain", "data_stats", "ablation", "gains", "sweep"]


rule aggregate:
    input:
        unpack(lambda wildcards: {"metrics": metric_files(), **stats_files()}),
    output:
        **{
            key: report(
                f"results/tables/{name}",
                caption=f"../report/{caption}",
                category="Tables",
                labels={"table": name},
            )
            for key, (name, caption) in CSV_TABLES.items()
        },
        **{f"{page}_md": f"results/tables/{page}.md" for page in PAGES},
        **{
            f"{page}_html": report(
                f"results/tables/{page}.html",
                caption=f"../report/{page}.rst",
                category="Tables",
                labels={"table": page},
            )
            for page in PAGES
        },
        zero_shot_csv="results/tables/zero_shot.csv",
        in_domain_csv="results/tables/in_domain.csv",
        data_stats_csv="results/tables/data_stats.csv",
        ablation_csv="results/tables/ablation.csv",
        gains_csv="results/tables/gains.csv",
        sweep_csv="results/tables/sweep.csv",
        zero_shot_png=report(
            "results/plots/zero_shot.png",
            caption="../report/zero_shot_plot.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "zero-shot results"},
        ),
        in_domain_png=report(
            "results/plots/in_domain.png",
            caption="../report/in_domain_plot.rst",
            category="Figures",
            subcategory="Results",
            labels={"figure": "in-domain results"},
        ),
    log:
        "logs/aggregate.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("aggregate"),
        protocol=SAMPLED,
        stats=lambda wildcards: stats_files(),
        base_settings=[*MAIN_IDS, "-"],
        swept=SWEPT,
    script:
        "../scripts/aggregate.py"


rule sensitivity:
    input:
        metrics=rules.aggregate.output.metrics,
    output:
        report(
            "results/plots/sensitivity/{key}.png",
            caption="../report/sensitivity.rst",
            category="Figures",
            subcategory="Sensitivity",
            labels={"setting": "{key}"},
        ),
    log:
        "logs/sensitivity/{key}.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("sensitivity"),
        protocol=SAMPLED,
    script:
        "../scripts/sensitivity.py"


rule training_curves:
    input:
        unpack(training_logs),
    output:
        report(
            "results/plots/training/{source}/{model}.png",
            caption="../report/training_curves.rst",
            category="Figures",
            subcategory="Training",
            labels={"source": "{source}", "model": "{model}"},
        ),
    log:
        "logs/training_curves/{source}/{model}.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("training_curves"),
        swept=sweep_labels,
    script:
        "../scripts/training_curves.py"


rule embedding_map:
    input:
        unpack(map_models),
        embeddings=[embeddings(d) for d in DOMAINS],
        item_tables=[items_of(d) for d in DOMAINS],
    output:
        report(
            "results/plots/embedding_map/{source}/{model}.png",
            caption="../report/embedding_map.rst",
            category="Figures",
            subcategory="Embedding maps",
            labels={"source": "{source}", "model": "{model}"},
        ),
    log:
        "logs/embedding_map/{source}/{model}.log",
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        code=code("embedding_map"),
        domains=DOMAINS,
        per_domain=300,
        seed=0,
    script:
        "../scripts/embedding_map.py"


rule configuration:
    output:
        md="results/tables/configuration.md",
        html=report(
            "results/tables/configuration.html",
            caption="../report/configuration.rst",
            category="Configuration",
            labels={"page": "every setting"},
        ),
    log:
        "logs/configuration.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("configuration"),
        config=config,
    script:
        "../scripts/configuration.py"


rule job_costs:
    input:
        metrics=metric_files(),
    output:
        csv="results/tables/job_costs.csv",
        md="results/tables/job_costs.md",
        html=report(
            "results/tables/job_costs.html",
            caption="../report/job_costs.rst",
            category="Tables",
            labels={"table": "job_costs"},
        ),
    log:
        "logs/job_costs.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code("job_costs"),
        benchmarks=lambda wildcards: job_benchmarks(),
    script:
        "../scripts/job_costs.py"
