"""Which settings a job uses, their ids in output paths, and sweeps; derived from the schema.

The configuration schema is the one declaration: its `train` and `recg` keys (with their defaults)
are the training settings, `x-when` says which backbones' objective or which -RecG part uses a key,
and `x-result: false` marks keys that never change a result (the device). Nothing here imports
torch or pandas, so planning the workflow stays fast.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, make_dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from recg.errors import ConfigError
from recg.provenance import settings_hash

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
SECTIONS = ("train", "recg")


@dataclass(frozen=True)
class Variant:
    """Which parts of LLM-RecG are on (paper Table 5 ablations switch one off each), and the
    training-free transform of every domain's frozen table (`recg.whitening`)."""

    align: bool = False
    intra: bool = False
    inter: bool = False
    patterns: bool = False
    table: str = "none"

    @property
    def generalisation(self) -> bool:
        return self.intra or self.inter

    @property
    def whiten(self) -> bool:
        return self.table == "whiten"


VARIANTS: dict[str, Variant] = {
    "sem": Variant(),
    "recg": Variant(align=True, intra=True, inter=True, patterns=True),
    "recg-no-id": Variant(align=True, intra=False, inter=True, patterns=True),
    "recg-no-ic": Variant(align=True, intra=True, inter=False, patterns=True),
    "recg-no-ig": Variant(align=True, intra=False, inter=False, patterns=True),
    "recg-no-sg": Variant(align=True, intra=True, inter=True, patterns=False),
    "sem-center": Variant(table="center"),
    "sem-whiten": Variant(table="whiten"),
    "recg-center": Variant(align=True, intra=True, inter=True, patterns=True, table="center"),
}


@cache
def schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA.read_text())


def _properties(section: str) -> dict[str, dict[str, Any]]:
    return schema()["properties"][section]["properties"]


def backbone_names() -> list[str]:
    return list(_properties("backbones"))


def objective(model: str) -> str:
    """`next_item` or `cloze`: the training objective a backbone is declared with."""
    return _properties("backbones")[model]["x-objective"]


def _uses(spec: Mapping[str, Any], model: str, variant: str) -> bool:
    when = spec.get("x-when", {})
    if "objective" in when and when["objective"] != objective(model):
        return False
    return not ("part" in when and not getattr(VARIANTS[variant], when["part"]))


def _fields() -> list[tuple[str, Any, Any]]:
    out: list[tuple[str, Any, Any]] = [
        ("model", str, field()),
        ("variant", str, field(default="sem")),
        ("seed", int, field(default=1)),
        ("backbone", dict, field(default_factory=dict)),
    ]
    for section in SECTIONS:
        for name, spec in _properties(section).items():
            out.append((name, Any, field(default=copy.deepcopy(spec["default"]))))
    return out


TrainSettings = make_dataclass(
    "TrainSettings",
    _fields(),
    namespace={
        "__doc__": "One training job's settings; fields and defaults come from the schema.",
        "variant_parts": property(lambda self: VARIANTS[self.variant]),
    },
)


def resumable_settings(settings: Any) -> dict[str, Any]:
    """A job's settings as checkpoints are keyed by: all but the device, so a job killed on one
    device may resume on another."""
    return {k: v for k, v in asdict(settings).items() if k != "device"}


def set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _leaf_schema(key: str) -> Mapping[str, Any] | None:
    node: Mapping[str, Any] = schema()
    for part in key.split("."):
        props = node.get("properties", {})
        if part not in props:
            return None
        node = props[part]
    return node


def check_sweep(sweep: Mapping[str, Iterable[Any]], where: str = "sweep") -> None:
    """A swept key must be a training setting; its values are checked against the schema."""
    import jsonschema

    root = schema()
    for key, values in sweep.items():
        spec = _leaf_schema(key)
        if spec is None or "properties" in spec:
            raise ConfigError(
                f"config key '{where}.{key}': not a setting (train.*, recg.*, backbones.*)"
            )
        if spec.get("x-result") is False:
            raise ConfigError(
                f"config key '{where}.{key}': does not change a result; nothing to sweep"
            )
        resolved = {
            **root.get("$defs", {}).get(spec.get("$ref", "").rsplit("/", 1)[-1], {}),
            **spec,
        }
        resolved.pop("$ref", None)
        resolved["$defs"] = root.get("$defs", {})
        for i, value in enumerate(values):
            try:
                jsonschema.validate(value, resolved)
            except jsonschema.ValidationError as exc:
                raise ConfigError(f"config key '{where}.{key}[{i}]': {exc.message}") from None


def overrides(sweep: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the swept values ({} without a sweep)."""
    keys = sorted(sweep)
    return [
        dict(zip(keys, combo, strict=True))
        for combo in itertools.product(*(sweep[k] for k in keys))
    ]


def job_settings(
    config: Mapping[str, Any], model: str, variant: str, seed: int, override: Mapping[str, Any]
) -> dict[str, Any]:
    """The settings a training job uses: only keys its backbone and variant read."""
    read = {*SECTIONS, "backbones", *(key.split(".")[0] for key in override)}
    resolved = {key: copy.deepcopy(config[key]) for key in read if key in config}
    for key, value in override.items():
        set_dotted(resolved, key, value)
    out: dict[str, Any] = {"model": model, "variant": variant, "seed": seed}
    for section in SECTIONS:
        for name, spec in _properties(section).items():
            if _uses(spec, model, variant):
                out[name] = resolved[section][name]
    out["backbone"] = resolved["backbones"][model]
    return out


def flat_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys (train.lr, recg.alpha, backbones.sasrec.layers) of a job's result settings."""
    flat = {}
    for section in SECTIONS:
        for name, spec in _properties(section).items():
            if name in settings and spec.get("x-result") is not False:
                flat[f"{section}.{name}"] = settings[name]
    for name, value in settings["backbone"].items():
        flat[f"backbones.{settings['model']}.{name}"] = value
    return flat


def settings_id(flat: Mapping[str, Any], upstream: Mapping[str, Any]) -> str:
    """8 hex digits naming a model's result settings (`flat_settings`; the seed is not among
    them) and what it was trained on."""
    return settings_hash({"settings": flat, "upstream": upstream})[:8]


def generalisation_domains(
    config: Mapping[str, Any],
    source: str,
    targets: Iterable[str],
    mode: str | list[str],
    where: str = "recg.gen_domains",
) -> list[str]:
    """The other domains (configuration order) whose item texts feed a source's L_gen.

    `all`: every configured domain but the source; `non_targets`: those that are not among the
    grid's `targets` either; a list: those named (the source, always in the loss, is skipped).
    """
    domains = list(config["domains"])
    if mode == "all":
        return [d for d in domains if d != source]
    if mode == "non_targets":
        return [d for d in domains if d != source and d not in set(targets)]
    for i, name in enumerate(mode):
        if name not in config["domains"]:
            raise ConfigError(
                f"config key '{where}[{i}]': {name!r} is not one of the domains "
                f"({', '.join(domains)})"
            )
    return [d for d in domains if d != source and d in mode]


@dataclass(frozen=True)
class Run:
    """One trained model of the grid: its path wildcards and settings."""

    source: str
    model: str
    variant: str
    seed: int
    settings_id: str
    settings: dict[str, Any] = field(compare=False, hash=False)
    flat: dict[str, Any] = field(compare=False, hash=False)
    targets: tuple[str, ...] = field(compare=False, hash=False)
    main: bool = field(compare=False, hash=False)
    gen_domains: tuple[str, ...] = field(default=(), compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        """What names the model: its path wildcards."""
        return (self.source, self.model, self.variant, self.seed, self.settings_id)


def _grids(config: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    keys = ("sources", "targets", "models", "variants", "seeds", "sweep")
    main = {k: config[k] for k in keys}
    grids = [("main", main)]
    for name, study in config.get("studies", {}).items():
        grids.append((name, {**main, **study}))
    return grids


def _check_grid(name: str, grid: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    where = "" if name == "main" else f"studies.{name}."
    for key, known in (
        ("models", _properties("backbones")),
        ("variants", VARIANTS),
        ("sources", config["domains"]),
        ("targets", config["domains"]),
    ):
        for i, value in enumerate(grid[key]):
            if value not in known:
                raise ConfigError(
                    f"config key '{where}{key}[{i}]': {value!r} is not one of {', '.join(known)}"
                )
    check_sweep(grid["sweep"], f"{where}sweep")
    _check_gen_domains(grid, config, where)


def _gen_domains(
    config: Mapping[str, Any], source: str, grid: Mapping[str, Any], settings: Mapping[str, Any]
) -> list[str]:
    if "gen_domains" not in settings:
        return []
    return generalisation_domains(config, source, grid["targets"], settings["gen_domains"])


def _check_gen_domains(grid: Mapping[str, Any], config: Mapping[str, Any], where: str) -> None:
    """Names in `recg.gen_domains` (the configuration's and swept values) must be domains."""
    lists = [("recg.gen_domains", config["recg"]["gen_domains"])] if not where else []
    for i, value in enumerate(grid["sweep"].get("recg.gen_domains", [])):
        lists.append((f"{where}sweep.recg.gen_domains[{i}]", value))
    for key, value in lists:
        if isinstance(value, list):
            generalisation_domains(config, "", [], value, key)


def _run(
    config: Mapping[str, Any],
    grid: Mapping[str, Any],
    job: tuple[str, str, str, int],
    override: Mapping[str, Any],
    upstream: Callable[[str, str, list[str]], Any],
) -> Run:
    """The run of one (source, model, variant, seed) of a grid at one sweep point."""
    source, model, variant, seed = job
    settings = job_settings(config, model, variant, seed, override)
    others = _gen_domains(config, source, grid, settings)
    flat = flat_settings(settings)
    sid = settings_id(flat, upstream(source, variant, others))
    return Run(*job, sid, settings, flat, (), False, tuple(others))


def runs(config: Mapping[str, Any], upstream: Callable[[str, str, list[str]], Any]) -> list[Run]:
    """Every model of the main grid and the studies, once each, in a stable order.

    `upstream(source, variant, gen_domains)` describes what a model is trained on (data, encoder,
    the other domains of the generalisation loss). A sweep value a job does not use (alpha for
    -Sem) gives the same settings, hence the same id and files, as every other value: such a
    model is trained once.
    `main` marks the runs with the configuration's own values (no sweep override), in the main
    grid or a study: the paper-shaped tables show those, an ablation study's included.
    """
    found: dict[tuple, Run] = {}
    targets: dict[tuple, set[str]] = {}
    main_ids: set[tuple] = set()
    for name, grid in _grids(config):
        _check_grid(name, grid, config)
        for job in itertools.product(
            grid["sources"], grid["models"], grid["variants"], grid["seeds"]
        ):
            configured = _run(config, grid, job, {}, upstream)
            main_ids.add(configured.key)
            for override in overrides(grid["sweep"]):
                swept = _run(config, grid, job, override, upstream) if override else configured
                targets.setdefault(swept.key, set()).update(grid["targets"])
                found.setdefault(swept.key, swept)
    return [
        replace(run, targets=tuple(sorted(targets[key])), main=key in main_ids)
        for key, run in found.items()
    ]


def varying(all_runs: Iterable[Run]) -> list[str]:
    """Dotted settings that take more than one value among the runs that use them."""
    values: dict[str, set[str]] = {}
    for run in all_runs:
        for key, value in run.flat.items():
            values.setdefault(key, set()).add(repr(value))
    return sorted(k for k, v in values.items() if len(v) > 1)
