"""Checks a YAML loader and the schema cannot make: repeated keys and domains that share a file.

YAML keeps the last of two same-named keys without a word, so a second `Scientific:` under
`domains:` would silently replace the first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from recg.errors import ConfigError


def _compose(path: Path) -> yaml.Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from exc
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from exc


def _walk(path: Path, node: yaml.Node, keys: tuple[str, ...]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                ident = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                name = ".".join((*keys, key_node.value))
                if ident in seen:
                    raise ConfigError(
                        f"{path} line {line}: duplicate key '{name}' "
                        f"(first at line {seen[ident]}; YAML would keep only the last)"
                    )
                seen[ident] = line
                _walk(path, value_node, (*keys, key_node.value))
            else:
                _walk(path, value_node, keys)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*keys[:-1], f"{keys[-1]}[{index}]") if keys else (f"[{index}]",)
            _walk(path, item, child)


def check_duplicate_keys(path: str | os.PathLike) -> None:
    """Raise ConfigError naming file, line and key path of the first repeated mapping key."""
    path = Path(path)
    node = _compose(path)
    if node is not None:
        _walk(path, node, ())


def load_yaml_strict(path: str | os.PathLike) -> Any:
    """yaml.safe_load that refuses repeated keys and names the line of a syntax error."""
    check_duplicate_keys(path)
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def same_files_warning(
    domains: Mapping[str, Mapping[str, Any]], base: str | os.PathLike = "."
) -> list[str]:
    """Warnings for domains whose reviews are one and the same file (two names, one domain)."""
    owners: dict[str, list[str]] = {}
    for name, spec in domains.items():
        reviews = spec.get("reviews")
        if not reviews:
            continue
        owners.setdefault(os.path.realpath(Path(base) / reviews), []).append(name)
    return [
        f"domains {', '.join(repr(n) for n in names)} read the same reviews file "
        f"{domains[names[0]]['reviews']}: they would be one domain under several names"
        for names in owners.values()
        if len(names) > 1
    ]
