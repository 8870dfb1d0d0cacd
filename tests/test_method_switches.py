"""Integration (dry runs): the -RecG switches reach the workflow's plan."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO, run_snakemake

pytestmark = pytest.mark.integration

DEMO = {"Gear": {"demo": True}, "Books": {"demo": True}, "Courses": {"demo": True}}


def train_inputs(plan: str) -> dict[str, list[str]]:
    """variant -> the domains whose embeddings each planned train job reads, from a dry run's
    job listing (`results/embeddings/<encoder>/<domain>/<encoding>.parquet`)."""
    found, current = {}, False
    for line in plan.splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")):
            current = stripped.split()[1].rstrip(":") == "train"
        elif current and stripped.startswith("input:"):
            inputs = [p.strip() for p in stripped[len("input:") :].split(",")]
        elif current and stripped.startswith("wildcards:"):
            variant = stripped.split("variant=")[1].split(",")[0]
            found[variant] = [p.split("/")[-2] for p in inputs if "/embeddings/" in p]
    return found


@pytest.mark.parametrize(
    ("mode", "read"),
    [
        ("all", ["Gear", "Books", "Courses"]),
        ("non_targets", ["Gear", "Courses"]),
        (["Books"], ["Gear", "Books"]),
    ],
)
def test_gen_domains_decide_what_the_train_rule_reads(tmp_path, mode, read):
    config = {
        "domains": DEMO,
        "sources": ["Gear"],
        "targets": ["Gear", "Books"],
        "variants": ["sem", "recg"],
        "recg": {"gen_domains": mode},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    plan = run_snakemake(tmp_path, "-n", "--configfile", str(path)).stdout
    assert train_inputs(plan) == {"sem": ["Gear"], "recg": read}


def test_the_authors_code_overlay_plans_on_the_demo_config(tmp_path):
    demo = REPO / "config" / "config.yaml"
    overlay = REPO / "config" / "experiments" / "authors-code.yaml"
    alone = run_snakemake(tmp_path, "-n", "--configfile", str(demo)).stdout
    both = run_snakemake(tmp_path, "-n", "--configfile", str(demo), str(overlay)).stdout
    ids = [
        {
            line.split("settings=")[1].split(",")[0]
            for line in plan.splitlines()
            if "settings=" in line
        }
        for plan in (alone, both)
    ]
    assert ids[0] and ids[1] and ids[0].isdisjoint(ids[1])
