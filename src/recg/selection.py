"""Choosing swept settings on validation targets, so that test targets never steer a choice.

A validation result is a zero-shot evaluation on a domain's validation split (second-to-last
item). For one (source, backbone, variant) and one test target, every candidate settings id is
scored by its validation metric, averaged over seeds per validation domain, then over domains
(each domain weighs the same, whatever its size); the best score wins, ties go to the smaller id.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from recg.io import read_json, write_json

KEEP = ("source", "model", "variant")


def metric_value(result: Mapping[str, Any], protocol: str, metric: str, k: int) -> float:
    for row in result["metrics"]:
        if (row["protocol"], row["metric"], row["k"]) == (protocol, metric, k):
            return float(row["value"])
    raise KeyError(f"no {protocol} {metric}@{k} among the result's metrics")


def _summary(values: Sequence[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "seeds": len(values),
    }


def choose(
    results: Iterable[tuple[str, Mapping[str, Any]]],
    protocol: str,
    metric: str = "ndcg",
    k: int = 10,
    swept: Iterable[str] = (),
) -> dict[str, Any]:
    """The best candidate among (path, validation result) pairs, with every candidate's scores.

    Refuses anything that is not a validation result of one (source, model, variant): a test
    result among them would let the test target choose.
    """
    swept = set(swept)
    scores: dict[str, dict[str, list[float]]] = {}
    values: dict[str, dict[str, Any]] = {}
    seeds: dict[str, dict[str, set[int]]] = {}
    first: Mapping[str, Any] | None = None
    for path, result in results:
        if result.get("split") != "valid":
            raise ValueError(f"{path}: not a validation result (split {result.get('split')!r})")
        first = first or result
        for key in KEEP:
            if result[key] != first[key]:
                raise ValueError(f"{path}: {key} {result[key]!r}, expected {first[key]!r}")
        settings, domain = result["settings"], result["target"]
        if domain == result["source"]:
            raise ValueError(f"{path}: the source cannot validate its own zero-shot settings")
        if result["seed"] in seeds.setdefault(settings, {}).setdefault(domain, set()):
            raise ValueError(f"{path}: a second result for seed {result['seed']}")
        seeds[settings][domain].add(result["seed"])
        value = metric_value(result, protocol, metric, k)
        scores.setdefault(settings, {}).setdefault(domain, []).append(value)
        flat = result.get("settings_values", {})
        values[settings] = {key: flat[key] for key in sorted(swept) if key in flat}
    if first is None:
        raise ValueError("no validation results to choose from")
    domains = sorted({d for by_domain in scores.values() for d in by_domain})
    candidates = []
    for settings, by_domain in scores.items():
        missing = set(domains) - set(by_domain)
        if missing:
            raise ValueError(f"settings {settings} lack validation on {', '.join(sorted(missing))}")
        per_domain = {d: _summary(by_domain[d]) for d in domains}
        candidates.append(
            {
                "settings": settings,
                "values": values[settings],
                "score": statistics.fmean(s["mean"] for s in per_domain.values()),
                "per_domain": per_domain,
            }
        )
    candidates.sort(key=lambda c: (-c["score"], c["settings"]))
    best = candidates[0]
    return {
        **{key: first[key] for key in KEEP},
        "validation_domains": domains,
        "criterion": f"{protocol} {metric}@{k}, mean over seeds, then over validation domains",
        "chosen": best["settings"],
        "chosen_values": best["values"],
        "score": best["score"],
        "candidates": candidates,
    }


def select_to_file(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    test_target: str,
    protocol: str,
    metric: str,
    k: int,
    swept: Iterable[str] = (),
) -> dict[str, Any]:
    """Write the choice for one test target; only validation files are ever read."""
    choice = choose(((str(p), read_json(p)) for p in paths), protocol, metric, k, swept)
    if test_target in choice["validation_domains"]:
        raise ValueError(f"test target {test_target} is among the validation domains")
    choice = {**choice, "test_target": test_target}
    write_json(choice, out)
    return choice
