"""Configuration: JSON-schema validation with defaults, and messages that name the key at fault."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from recg.demo import DEMO_DOMAINS
from recg.errors import ConfigError
from recg.text import PLACEHOLDERS, template_placeholders


def _key(path: Iterator[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _with_defaults(validator_class):
    """A validator that fills in `default:` values of missing properties before checking them."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                sub = _resolve(validator, sub)
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _resolve(validator, sub: Mapping[str, Any]) -> Mapping[str, Any]:
    if "$ref" in sub:
        resolved = validator._resolver.lookup(sub["$ref"]).contents
        return {**resolved, **{k: v for k, v in sub.items() if k != "$ref"}}
    return sub


def _message(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f"under '{key}'" if error.absolute_path else "at the top level"
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown key {', '.join(repr(u) for u in unknown)} {where}{hint}"
    if error.validator == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return f"config key '{key}': {error.instance!r} is not allowed (allowed: {options})"
    if error.validator == "type" and isinstance(error.instance, str):
        hint = ""
        if error.validator_value in ("number", "integer") or "number" in error.validator_value:
            hint = " (YAML reads 1e-3 as text: write 1.0e-3)"
        return f"config key '{key}': {error.instance!r} is not a {error.validator_value}{hint}"
    if error.validator == "required":
        missing = error.message.split("'")[1]
        where = f" under '{key}'" if error.absolute_path else ""
        return f"config: missing required key '{missing}'{where}"
    if error.validator == "pattern" and not error.absolute_path:
        return f"config: {error.message}"
    return f"config key '{key}': {error.message}"


def load_schema(path: str | Path) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def validate(
    config: dict[str, Any], schema: Mapping[str, Any], base: str | Path = "."
) -> dict[str, Any]:
    """Fill defaults into `config` (in place) and check it; raise ConfigError naming the key."""
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_message(best))
    _check_meaning(config, Path(base))
    return config


def _check_meaning(config: dict[str, Any], base: Path) -> None:
    domains = config["domains"]
    for role in ("sources", "targets"):
        for i, name in enumerate(config[role]):
            if name not in domains:
                raise ConfigError(
                    f"config key '{role}[{i}]': '{name}' is not a configured domain "
                    f"(domains: {', '.join(domains)})"
                )
    for name, spec in domains.items():
        if spec["demo"]:
            _check_demo_domain(name, spec)
            continue
        for role in ("reviews", "meta"):
            if role not in spec:
                raise ConfigError(f"config: missing required key '{role}' under 'domains.{name}'")
            path = base / spec[role]
            if not path.is_file():
                raise ConfigError(
                    f"config key 'domains.{name}.{role}': file not found: {spec[role]}"
                )
    template = config["preprocess"]["template"]
    try:
        names = template_placeholders(template)
    except ValueError as exc:
        raise ConfigError(f"config key 'preprocess.template': malformed template ({exc})") from exc
    unknown = sorted(set(names) - set(PLACEHOLDERS))
    if unknown or not names:
        raise ConfigError(
            f"config key 'preprocess.template': placeholders {unknown or '(none)'} "
            f"(allowed: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
        )


DOMAIN_PREPROCESS = ("min_year",)


def domain_preprocess(config: Mapping[str, Any], domain: str) -> dict[str, Any]:
    """The `preprocess` section as it applies to `domain`: a key the domain entry sets itself
    (`DOMAIN_PREPROCESS`) replaces the global one, so one domain may keep reviews the others cut."""
    spec = config["domains"][domain]
    return {**config["preprocess"], **{k: spec[k] for k in DOMAIN_PREPROCESS if k in spec}}


def demo_paths(name: str) -> dict[str, str]:
    """Where the demo rule writes a demo domain's raw files."""
    return {"reviews": f"data/demo/{name}.jsonl.gz", "meta": f"data/demo/meta_{name}.jsonl.gz"}


def _check_demo_domain(name: str, spec: dict[str, Any]) -> None:
    if name not in DEMO_DOMAINS:
        raise ConfigError(
            f"config key 'domains.{name}.demo': no demo domain called '{name}' "
            f"(demo domains: {', '.join(DEMO_DOMAINS)})"
        )
    for role, path in demo_paths(name).items():
        given = spec.setdefault(role, path)
        if given != path:
            raise ConfigError(
                f"config key 'domains.{name}.{role}': a demo domain's file is generated at "
                f"{path}; remove the key or set it to that path"
            )
    if spec["format"] != "amazon2023":
        raise ConfigError(f"config key 'domains.{name}.format': demo domains are amazon2023")


def load(path: str | Path, schema_path: str | Path, base: str | Path = ".") -> dict[str, Any]:
    config = yaml.safe_load(Path(path).read_text()) or {}
    return validate(config, load_schema(schema_path), base)
