"""Settings derived from the schema: which keys a job uses, ids, sweeps, studies, code digests."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from recg import config as recg_config
from recg.errors import ConfigError
from recg.imports import files_digest, package_files
from recg.models import BACKBONES
from recg.objectives import OBJECTIVES
from recg.settings import (
    SECTIONS,
    VARIANTS,
    TrainSettings,
    flat_settings,
    job_settings,
    runs,
    schema,
    varying,
)

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def demo(**extra) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(copy.deepcopy(extra))
    return recg_config.validate(config, recg_config.load_schema(SCHEMA))


def context(source: str, variant: str, gen_domains: list[str]) -> dict:
    return {"source": source, "gen_domains": gen_domains}


def test_schema_enums_equal_the_registries():
    props = schema()["properties"]
    assert props["models"]["items"]["enum"] == list(BACKBONES)
    assert set(props["backbones"]["properties"]) == set(BACKBONES)
    assert props["variants"]["items"]["enum"] == list(VARIANTS)
    for name, backbone in BACKBONES.items():
        declared = props["backbones"]["properties"][name]["x-objective"]
        assert declared == backbone.objective and declared in OBJECTIVES, name


def test_train_settings_take_every_schema_default():
    settings = TrainSettings(model="gru4rec")
    for section in SECTIONS:
        for name, spec in schema()["properties"][section]["properties"].items():
            assert getattr(settings, name) == spec["default"], name


def test_a_job_gets_only_the_settings_it_uses():
    config = demo()
    sem = job_settings(config, "gru4rec", "sem", 1, {})
    assert "alpha" not in sem and "clusters" not in sem and "mask_prob" not in sem
    assert sem["objective"] == "all" and sem["lr"] == config["train"]["lr"]
    bert = job_settings(config, "bert4rec", "recg", 1, {})
    assert {"mask_prob", "alpha", "tau", "clusters"} <= set(bert) and "objective" not in bert
    no_sg = job_settings(config, "sasrec", "recg-no-sg", 1, {})
    assert "alpha" in no_sg and "clusters" not in no_sg
    no_ig = job_settings(config, "sasrec", "recg-no-ig", 1, {})
    assert "alpha" not in no_ig and "clusters" in no_ig
    assert job_settings(config, "sasrec", "sem", 1, {"train.lr": 0.5})["lr"] == 0.5


def test_device_is_not_part_of_a_result():
    config = demo()
    settings = job_settings(config, "gru4rec", "sem", 1, {})
    assert "device" in settings and "train.device" not in flat_settings(settings)


def test_a_sweep_trains_each_value_once_and_sem_once():
    alphas = [0.01, 0.001, 0.0001]
    config = demo(sources=["Gear"], models=["gru4rec"], seeds=[1, 2], sweep={"recg.alpha": alphas})
    found = runs(config, context)
    sem = [r for r in found if r.variant == "sem"]
    recg = [r for r in found if r.variant == "recg"]
    assert len(sem) == 2 and len(recg) == 2 * len(alphas)
    assert {r.settings["alpha"] for r in recg} == set(alphas)
    assert len({r.settings_id for r in recg}) == len(alphas)
    assert varying(found) == ["recg.alpha"]
    base = [r for r in found if r.main]
    assert {r.variant for r in base} == {"sem", "recg"}
    assert all(r.settings["alpha"] == config["recg"]["alpha"] for r in base if r.variant == "recg")


def test_differing_settings_never_share_an_id_and_equal_ones_do():
    config = demo(sources=["Gear"], models=["sasrec"], variants=["recg"])
    first = {r.settings_id for r in runs(config, context)}
    assert first == {r.settings_id for r in runs(copy.deepcopy(config), context)}
    config["train"]["dropout"] = 0.3
    assert first.isdisjoint({r.settings_id for r in runs(config, context)})
    config["train"]["device"] = "cuda"
    assert first.isdisjoint({r.settings_id for r in runs(config, context)})


def test_a_study_shares_the_main_grids_models():
    config = demo(
        sources=["Gear"],
        models=["gru4rec"],
        studies={"ablation": {"models": ["gru4rec"], "variants": ["sem", "recg", "recg-no-sg"]}},
    )
    found = runs(config, context)
    assert sorted(r.variant for r in found) == ["recg", "recg-no-sg", "sem"]
    assert all(r.main for r in found)  # all at the configuration's own values


def test_an_unswept_study_beside_a_swept_grid_is_at_the_configured_values():
    alphas = [0.01, 0.001]
    config = demo(
        sources=["Gear"],
        models=["gru4rec"],
        sweep={"recg.alpha": alphas},
        studies={"ablation": {"variants": ["recg", "recg-no-ig", "recg-no-sg"], "sweep": {}}},
    )
    found = runs(config, context)
    main = {(r.variant, r.settings_id) for r in found if r.main}
    assert {v for v, _ in main} == {"sem", "recg", "recg-no-ig", "recg-no-sg"}
    swept = [r for r in found if r.variant == "recg" and not r.main]
    assert [r.settings["alpha"] for r in swept] == [
        a for a in alphas if a != config["recg"]["alpha"]
    ]


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"recg.alpah": [0.1]}, "'sweep.recg.alpah': not a setting"),
        ({"train.device": ["cpu"]}, "does not change a result"),
        ({"recg.alpha": [0.1, "big"]}, "'sweep.recg.alpha[1]'"),
        ({"train.loss": ["bpr", "hinge"]}, "'sweep.train.loss[1]'"),
    ],
)
def test_a_bad_sweep_names_the_key(sweep, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        runs(demo(sweep=sweep), context)


def test_an_unknown_study_model_is_named():
    with pytest.raises(ConfigError, match=r"studies\.x\.models\[0\]"):
        runs(demo(studies={"x": {"models": ["gru5rec"]}}), context)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("all", ("Books", "Courses")),
        ("non_targets", ("Courses",)),
        (["Courses", "Gear"], ("Courses",)),
    ],
)
def test_gen_domains_choose_the_other_domains_of_the_loss(mode, expected):
    config = demo(sources=["Gear"], targets=["Gear", "Books"], models=["gru4rec"], seeds=[1])
    config["recg"]["gen_domains"] = mode
    found = {r.variant: r for r in runs(config, context)}
    assert found["recg"].gen_domains == expected and found["sem"].gen_domains == ()
    assert found["recg"].flat["recg.gen_domains"] == mode


def test_gen_domains_change_the_recg_id_only():
    config = demo(
        sources=["Gear"], models=["gru4rec"], sweep={"recg.gen_domains": ["all", ["Books"]]}
    )
    found = runs(config, context)
    assert len({r.settings_id for r in found if r.variant == "recg"}) == 2
    assert len([r for r in found if r.variant == "sem"]) == 1


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"recg": {"gen_domains": ["Books", "Movies"]}}, "'recg.gen_domains[1]': 'Movies'"),
        ({"sweep": {"recg.gen_domains": ["all", ["Movie"]]}}, "'sweep.recg.gen_domains[1][0]'"),
        ({"studies": {"s": {"sweep": {"recg.gen_domains": [["X"]]}}}}, "'studies.s.sweep.recg"),
    ],
)
def test_an_unknown_gen_domain_is_named(change, key):
    config = demo(**{k: v for k, v in change.items() if k != "recg"})
    config["recg"].update(change.get("recg", {}))
    with pytest.raises(ConfigError, match=re.escape(key)):
        runs(config, context)


def script(name: str) -> Path:
    return REPO / "workflow" / "scripts" / f"{name}.py"


def names(files) -> set[str]:
    return {str(Path(f).relative_to(REPO / "src" / "recg")) for f in files}


def test_code_digests_are_of_the_modules_a_script_imports():
    train = names(package_files(script("train")))
    evaluate = names(package_files(script("evaluate")))
    assert {"train.py", "losses.py", "patterns.py", "models/sasrec.py", "ranking.py"} <= train
    assert "evaluate.py" not in train and "report.py" not in train
    assert {"evaluate.py", "ranking.py", "negatives.py"} <= evaluate and "train.py" not in evaluate
    assert "evaluate.py" not in names(package_files(script("negatives")))


def test_a_code_digest_follows_content_not_place_or_time(tmp_path):
    first, second = tmp_path / "a" / "recg", tmp_path / "b" / "recg"
    for root in (first, second):
        (root / "models").mkdir(parents=True)
        (root / "train.py").write_text("x = 1\n")
        (root / "models" / "gru4rec.py").write_text("y = 2\n")

    def digest(root: Path) -> str:
        return files_digest([str(root / "train.py"), str(root / "models" / "gru4rec.py")], root)

    assert digest(first) == digest(second)  # a copy of the repository elsewhere
    os.utime(first / "train.py", (1, 1))
    assert digest(first) == digest(second)  # touched, not changed
    (first / "train.py").write_text("x = 2\n")
    assert digest(first) != digest(second)
    only_train = files_digest([str(second / "train.py")], second)
    assert only_train != digest(second)  # one module fewer


def test_progress_writes_whole_lines_to_a_log(tmp_path, monkeypatch):
    import io
    import sys

    from recg import progress as progress_module

    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", progress_module.LogLines(log))
    monkeypatch.setattr(progress_module, "INTERVAL", 0.0)
    assert list(progress_module.progress(range(3), "steps", 3)) == [0, 1, 2]
    lines = log.getvalue().splitlines()
    assert lines and all(line.startswith("steps") for line in lines)
    assert "\r" not in log.getvalue() and "3/3" in lines[-1]


def test_every_schema_key_has_a_description():
    missing = []

    def walk(node: dict, path: str) -> None:
        for key, sub in node.get("properties", {}).items():
            where = f"{path}.{key}" if path else key
            if "description" not in sub:
                missing.append(where)
            walk(sub, where)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.*")

    walk(schema(), "")
    assert missing == []
