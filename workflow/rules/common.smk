import functools
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError

from snakemake.logging import logger

from recg import config as recg_config
from recg import settings as recg_settings
from recg.config_checks import check_duplicate_keys, same_files_warning
from recg.convert import SMOLLM2_WHEEL
from recg.errors import ConfigError
from recg.imports import files_digest, imported_modules, package_files

ROOT = Path(workflow.basedir)
PACKAGE = ROOT / "src" / "recg"
CONDA_ENV = "../../envs/recg.yaml"

try:
    for configfile in workflow.overwrite_configfiles or [ROOT / "config/config.yaml"]:
        check_duplicate_keys(configfile)
    recg_config.validate(
        config, recg_config.load_schema(ROOT / "workflow/schemas/config.schema.yaml")
    )
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None
for warning in same_files_warning(config["domains"]):
    logger.warning(warning)

DOMAINS = list(config["domains"])
DEMO = [name for name, spec in config["domains"].items() if spec["demo"]]
ENCODER = config["encoder"]["name"]
GPU_ENCODER = config["encoder"]["device"].startswith("cuda")
GPU_TRAIN = config["train"]["device"].startswith("cuda")
SAMPLED = f"uni{config['evaluation']['negatives']}"
# downloaded by `make smollm2`; converted into SMOLLM2_DIR by the workflow (see docs/embeddings.md)
SMOLLM2_SOURCE = str(ROOT / "resources" / "wheels" / SMOLLM2_WHEEL)
SMOLLM2_DIR = "resources/models/smollm2-135m-instruct"


def alternatives(values):
    return "|".join(str(v) for v in values) or "(?!)"


def script_modules(script):
    return package_files(ROOT / "workflow" / "scripts" / f"{script}.py", PACKAGE)


@functools.cache
def code(script):
    """The `code` param: a digest of the package modules a rule's script imports, so editing
    one reruns that rule's jobs only (see `files_digest`)."""
    return files_digest(script_modules(script), PACKAGE)


def backbone_deps(path):
    """Backbone modules a backbone file imports itself (BERT4Rec builds on SASRec)."""
    return {
        str(PACKAGE / "models" / f"{m}.py")
        for m in recg_settings.backbone_names()
        if f"recg.models.{m}" in imported_modules(path)
    }


BACKBONE_FILES = {
    str(PACKAGE / "models" / f"{m}.py") for m in recg_settings.backbone_names()
}


@functools.cache
def _model_code(script, model):
    own = PACKAGE / "models" / f"{model}.py"
    deps = backbone_deps(own)
    used = {str(own), *(f for f in package_files(own, PACKAGE) if f in deps)}
    kept = [f for f in script_modules(script) if f not in BACKBONE_FILES]
    return files_digest({*kept, *used}, PACKAGE)


def model_code(script):
    """As `code`, with only the job's own backbone module among the backbones: the registry
    imports every backbone, but a job runs one, so editing SASRec leaves GRU4Rec's jobs alone.
    """

    def digest(wildcards):
        return _model_code(script, wildcards.model)

    return digest


def gpu_resources(needed):
    """One NVIDIA GPU when a rule's device is cuda, else no gpu keys at all: executors act on the
    mere presence of `gpu` (Kubernetes schedules onto GPU nodes, and rejects gpu_manufacturer
    "none"), so a CPU job must not declare gpu=0."""
    return {"gpu": 1, "gpu_manufacturer": "nvidia"} if needed else {}


def domain_file(role):
    def path(wildcards):
        return config["domains"][wildcards.domain][role]

    return path


def domain_preprocess(domain):
    """The preprocess section with a domain's own overrides (min_year) applied."""
    return recg_config.domain_preprocess(config, domain)


def preprocess_spec(wildcards):
    domain = config["domains"][wildcards.domain]
    return {
        "name": wildcards.domain,
        "reviews": domain["reviews"],
        "meta": domain["meta"],
        "format": domain["format"],
        **domain_preprocess(wildcards.domain),
    }


def encoder_settings(wildcards):
    return config["encoder"]


def encoder_model(wildcards):
    """The converted model folder when the encoder uses it, so the conversion runs first."""
    model = config["encoder"]["model"]
    return [SMOLLM2_DIR] if os.path.normpath(model) == SMOLLM2_DIR else []


def text_template(wildcards):
    """A function, so that Snakemake leaves the template's {placeholders} alone."""
    return config["preprocess"]["template"]


ENCODER_RESULT_KEYS = [
    k for k in config["encoder"] if k not in ("device", "batch_size", "cache")
]


def data_context(domain):
    spec = config["domains"][domain]
    return {
        "files": {k: spec[k] for k in ("reviews", "meta", "format")},
        "preprocess": domain_preprocess(domain),
    }


def short_id(value):
    """8 hex digits naming settings; the settings themselves sit in the files' provenance."""
    return recg_settings.settings_hash(value)[:8]


ENCODER_RESULTS = {k: config["encoder"][k] for k in ENCODER_RESULT_KEYS}
# a domain's data: its files and preprocess settings; its embeddings: those and the encoder's
DATA_ID = {d: short_id(data_context(d)) for d in DOMAINS}
ENCODING_ID = {
    d: short_id({"data": DATA_ID[d], "encoder": ENCODER_RESULTS}) for d in DOMAINS
}
NEGATIVES = f"{SAMPLED}-seed{config['evaluation']['negatives_seed']}"
# what a target's metrics depend on besides the model: its data, embeddings, negatives, cut-offs
SCORING_ID = {
    d: short_id(
        {
            "encoding": ENCODING_ID[d],
            "negatives": NEGATIVES,
            "ks": config["evaluation"]["ks"],
        }
    )
    for d in DOMAINS
}


DATA_FILES = ("items.parquet", "sequences.parquet", "stats.json")


def data_file(domain, name):
    return f"results/data/{domain}/{DATA_ID[domain]}/{name}"


def items_of(domain):
    return data_file(domain, "items.parquet")


def sequences_of(domain):
    return data_file(domain, "sequences.parquet")


def stats_of(domain):
    return data_file(domain, "stats.json")


def negatives_of(domain):
    return data_file(domain, f"negatives-{NEGATIVES}.parquet")


def embeddings(domain):
    return f"results/embeddings/{ENCODER}/{domain}/{ENCODING_ID[domain]}.parquet"


def of(wildcard, path):
    """An input function: `path` of the domain a wildcard names."""
    return lambda wildcards: path(getattr(wildcards, wildcard))


def checked(ids, wildcard, domain="domain"):
    """A params function refusing a path whose id is not this configuration's (a stale target
    named on the command line) rather than writing it with other settings."""

    def check(wildcards):
        name, found = getattr(wildcards, domain), getattr(wildcards, wildcard)
        if found != ids[name]:
            raise WorkflowError(
                f"{wildcard} id {found} of domain {name} is not this configuration's "
                f"({ids[name]})"
            )
        return found

    return check


def upstream(source, variant, gen_domains):
    """What a model is trained on; part of its settings id."""
    return {
        "data": data_context(source),
        "encoder": ENCODER_RESULTS,
        "generalisation_domains": [data_context(d) for d in gen_domains],
    }


try:
    RUNS = recg_settings.runs(config, upstream)
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None
RUN = {r.key: r for r in RUNS}
SETTINGS_IDS = sorted({r.settings_id for r in RUNS})
SWEPT = recg_settings.varying(RUNS)
NUMERIC_SWEPT = [
    key
    for key in SWEPT
    if all(
        isinstance(v, (int, float)) and not isinstance(v, bool)
        for r in RUNS
        for k, v in r.flat.items()
        if k == key
    )
]
MAIN_IDS = sorted({r.settings_id for r in RUNS if r.main})
MODELS = sorted({r.model for r in RUNS})
VARIANTS = sorted({r.variant for r in RUNS})
ALL_SOURCES = sorted({r.source for r in RUNS})
ALL_TARGETS = sorted({t for r in RUNS for t in r.targets})


def run_of(wildcards):
    key = (
        wildcards.source,
        wildcards.model,
        wildcards.variant,
        int(wildcards.seed),
        wildcards.settings,
    )
    if key not in RUN:
        raise WorkflowError(f"no run {key} in this configuration")
    return RUN[key]


def train_settings(wildcards):
    return run_of(wildcards).settings


def settings_values(wildcards):
    return run_of(wildcards).flat


def domain_inputs(domain):
    """A domain's preprocessed data and embeddings a model reads."""
    return {
        "sequences": sequences_of(domain),
        "item_table": items_of(domain),
        "embeddings": embeddings(domain),
    }


def training_inputs(wildcards):
    """The source's data, and the embeddings (text only) of the other domains the run's -RecG
    item-level loss reads (`recg.gen_domains`). One input function per job: planning pays
    per function called."""
    return {
        **domain_inputs(wildcards.source),
        "other_domains": [embeddings(d) for d in run_of(wildcards).gen_domains],
    }


def target_inputs(wildcards):
    return {
        **domain_inputs(wildcards.target),
        "negatives": negatives_of(wildcards.target),
    }


def run_wildcards(run):
    return {
        "source": run.source,
        "model": run.model,
        "variant": run.variant,
        "settings": run.settings_id,
        "seed": run.seed,
    }


def model_file(run, part):
    """A trained model's file (`part`: model, config or history), from the train rule's output."""
    return getattr(rules.train.output, part).format(**run_wildcards(run))


def evaluation_wildcards(run, target):
    """An evaluate or validate job's wildcards: one model on one target."""
    return {**run_wildcards(run), "target": target, "scoring": SCORING_ID[target]}


def evaluation_file(kind, run, target):
    """An evaluate (`kind` metrics) or validate job's output."""
    producer = rules.evaluate if kind == "metrics" else rules.validate
    return producer.output[0].format(**evaluation_wildcards(run, target))


def metric_files():
    files = [evaluation_file("metrics", r, t) for r in RUNS for t in r.targets]
    files += [
        f"results/metrics/{t}/{t}/{SCORING_ID[t]}/{baseline}-base/seed0.json"
        for t in ALL_TARGETS
        for baseline in config["baselines"]
    ]
    return files


def training_logs(wildcards):
    return {
        f"{r.variant}/{r.settings_id}/seed{r.seed}": model_file(r, "history")
        for r in RUNS
        if r.source == wildcards.source and r.model == wildcards.model
    }


def sweep_labels(wildcards):
    """Run label -> the swept settings it uses, for the training-curve legend."""
    return {
        f"{r.variant}/{r.settings_id}/seed{r.seed}": {
            k: v for k, v in r.flat.items() if k in SWEPT
        }
        for r in RUNS
        if r.source == wildcards.source and r.model == wildcards.model
    }


def map_runs():
    """(source, model) -> the main grid's -Sem and -RecG runs of the first seed, for the map of
    each source's first backbone (t-SNE is slow; one map per source shows the spaces).
    """
    found = {}
    for r in sorted(RUNS, key=lambda r: r.seed):
        if r.main and r.variant in ("sem", "recg"):
            found.setdefault((r.source, r.model), {}).setdefault(r.variant, r)
    first = {}
    for (source, model), pair in found.items():
        rank = (
            config["models"].index(model) if model in config["models"] else len(MODELS)
        )
        if len(pair) == 2 and rank < first.get(source, (len(MODELS) + 1,))[0]:
            first[source] = (rank, model, pair)
    return {(source, model): pair for source, (_, model, pair) in first.items()}


MAP_RUNS = map_runs()


def map_models(wildcards):
    pair = MAP_RUNS[(wildcards.source, wildcards.model)]
    return {
        f"{v}_{part}": model_file(r, part)
        for v, r in pair.items()
        for part in ("model", "config")
    }


def embedded_domains():
    """Domains some job reads embeddings of: sources, targets, the item-level loss's other
    domains, and every domain when the bias diagnostics are on."""
    used = set(ALL_SOURCES) | set(ALL_TARGETS)
    used |= {d for r in RUNS for d in r.gen_domains} | set(VALIDATION_DOMAINS)
    if DIAGNOSING:
        used |= set(DOMAINS)
    return sorted(used)


def job_benchmarks():
    """Rule -> the benchmark file of each of its jobs in this configuration (rules with jobs)."""
    files = {
        "embed": [
            rules.embed.benchmark.format(
                encoder=ENCODER, domain=d, encoding=ENCODING_ID[d]
            )
            for d in embedded_domains()
        ],
        "train": [rules.train.benchmark.format(**run_wildcards(r)) for r in RUNS],
        "evaluate": [
            rules.evaluate.benchmark.format(**evaluation_wildcards(r, t))
            for r in RUNS
            for t in r.targets
        ],
        "validate": sorted(
            {
                rules.validate.benchmark.format(**evaluation_wildcards(r, d))
                for candidates, domains in SELECTIONS.values()
                for r in candidates
                for d in domains
            }
        ),
    }
    return {rule: paths for rule, paths in files.items() if paths}


def stats_files():
    used = sorted(set(ALL_SOURCES) | set(ALL_TARGETS))
    return {d: stats_of(d) for d in used}


DIAGNOSTICS = config["diagnostics"]
# with fewer than two domains there is no domain to tell apart
DIAGNOSING = len(DOMAINS) >= 2 and bool(DIAGNOSTICS["encoder"] or DIAGNOSTICS["models"])
BIAS_SETTINGS = {
    k: DIAGNOSTICS[k] for k in ("per_domain", "folds", "neighbours", "seed")
}


def diagnostics_files(wildcards=None):
    """The encoder's and every trained model's diagnostics the table gathers."""
    if not DIAGNOSING:
        return {}
    files = {}
    if DIAGNOSTICS["encoder"]:
        files["encoder"] = [rules.diagnostics_encoder.output[0].format(encoder=ENCODER)]
    if DIAGNOSTICS["models"]:
        files["models"] = [
            rules.diagnostics_model.output[0].format(**run_wildcards(r)) for r in RUNS
        ]
    return files


def final_outputs():
    curves = sorted({(r.source, r.model) for r in RUNS})
    bias = ["results/tables/diagnostics.csv"] if DIAGNOSING else []
    return [
        "results/tables/metrics.csv",
        "results/tables/configuration.md",
        *bias,
        "results/tables/job_costs.md",
        *[f"results/plots/training/{s}/{m}.png" for s, m in curves],
        *[f"results/plots/embedding_map/{s}/{m}.png" for s, m in sorted(MAP_RUNS)],
        *[f"results/plots/sensitivity/{key}.png" for key in NUMERIC_SWEPT],
        *stats_files().values(),
        *(["results/tables/selected.md"] if SELECTING else []),
    ]


# ------------------------------------------------------------ choosing settings on validation

SELECTION = config["selection"]
SELECTING = SELECTION["validation"] != "none"
SELECTION_PROTOCOL = SAMPLED if SELECTION["protocol"] == "sampled" else "full"
HELD_OUT = (
    [] if SELECTION["validation"] in ("none", "others") else SELECTION["validation"]
)
for i, name in enumerate(HELD_OUT):
    if name not in config["domains"]:
        raise WorkflowError(
            f"invalid configuration: config key 'selection.validation[{i}]': {name!r} is not "
            f"one of the domains ({', '.join(DOMAINS)})"
        )


def selection_groups():
    """(source, test target, model, variant) -> (candidate runs, validation domains).

    `others`: a source's other zero-shot targets validate each test target (with three domains,
    one validates and the third is tested, in both orders); a list: those domains validate
    and are never test targets.
    """
    grouped = {}
    for r in RUNS:
        grouped.setdefault((r.source, r.model, r.variant), []).append(r)
    groups = {}
    for (source, model, variant), candidates in grouped.items():
        zero_shot = sorted({t for r in candidates for t in r.targets} - {source})
        for target in zero_shot:
            if target in HELD_OUT:
                continue
            pool = zero_shot if SELECTION["validation"] == "others" else HELD_OUT
            domains = [d for d in pool if d not in (source, target)]
            if not domains:
                raise WorkflowError(
                    f"invalid configuration: config key 'selection.validation': no domain "
                    f"validates source {source} for test target {target} (needs a zero-shot "
                    "target other than both)"
                )
            groups[(source, target, model, variant)] = (candidates, domains)
    return groups


SELECTIONS = selection_groups() if SELECTING else {}
VALIDATION_DOMAINS = sorted({d for _, ds in SELECTIONS.values() for d in ds})


def validation_files(wildcards):
    """Only validation results: what a selection job may read."""
    key = (wildcards.source, wildcards.target, wildcards.model, wildcards.variant)
    candidates, domains = SELECTIONS[key]
    return [evaluation_file("validation", r, d) for r in candidates for d in domains]


def selection_files(wildcards):
    keys = ("source", "target", "model", "variant")
    return [
        rules.select.output[0].format(**dict(zip(keys, group)))
        for group in sorted(SELECTIONS)
    ]
