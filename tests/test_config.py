import copy

import pytest
import yaml
from conftest import REPO

from recg.config import domain_preprocess, load, load_schema, validate
from recg.errors import ConfigError
from recg.settings import runs

SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")


def base(tmp_path):
    for name in ("r.jsonl", "m.jsonl"):
        (tmp_path / name).write_text("")
    return {
        "domains": {"A": {"reviews": "r.jsonl", "meta": "m.jsonl"}, "Gear": {"demo": True}},
        "sources": ["A"],
        "targets": ["A", "Gear"],
    }


def check(config, tmp_path):
    return validate(copy.deepcopy(config), SCHEMA, tmp_path)


def test_shipped_config_is_valid():
    config = load(
        REPO / "config" / "config.yaml", REPO / "workflow/schemas/config.schema.yaml", REPO
    )
    assert config["sources"] and config["encoder"]["name"]


def test_defaults_are_filled(tmp_path):
    config = check(base(tmp_path), tmp_path)
    assert config["models"] == ["gru4rec"] and config["variants"] == ["sem"]
    assert config["train"]["lr"] == 0.001 and config["backbones"]["sasrec"]["heads"] == 2
    assert config["domains"]["Gear"]["reviews"] == "data/demo/Gear.jsonl.gz"
    assert config["evaluation"]["negatives"] == 100


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c.update(modle=["x"]),
            r"unknown key 'modle' at the top level \(allowed: .*models",
        ),
        (
            lambda c: c.update(models=["gru"]),
            r"'models\[0\]': 'gru' is not allowed \(allowed: gru4rec, sasrec, bert4rec\)",
        ),
        (lambda c: c.update(train={"lr": "1e-3"}), r"'train.lr': '1e-3' is not a number .*1.0e-3"),
        (lambda c: c.update(train={"epocs": 3}), r"unknown key 'epocs' under 'train'"),
        (lambda c: c.update(sources=["B"]), r"'sources\[0\]': 'B' is not a configured domain"),
        (
            lambda c: c["domains"]["A"].update(reviews="missing.jsonl"),
            r"'domains.A.reviews': file not found: missing.jsonl",
        ),
        (lambda c: c["domains"]["A"].pop("meta"), r"missing required key 'meta' under 'domains.A'"),
        (lambda c: c.pop("targets"), r"missing required key 'targets'"),
        (lambda c: c["domains"].update(Moon={"demo": True}), r"no demo domain called 'Moon'"),
        (
            lambda c: c.update(preprocess={"template": "{title} {colour}"}),
            r"'preprocess.template': placeholders \['colour'\]",
        ),
        (lambda c: c.update(seeds=[1, 1]), r"'seeds'"),
        (lambda c: c.update(encoder={"device": "tpu"}), r"'encoder.device'"),
        (lambda c: c["domains"]["A"].update(min_year=18), r"'domains.A.min_year': 18 is less"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, change, message):
    config = base(tmp_path)
    change(config)
    with pytest.raises(ConfigError, match=message):
        check(config, tmp_path)


def test_yaml_scientific_notation_pitfall_is_explained(tmp_path):
    config = base(tmp_path)
    config.update(yaml.safe_load("train: {lr: 1e-3}"))
    with pytest.raises(ConfigError, match=r"write 1\.0e-3"):
        check(config, tmp_path)


def test_a_domain_min_year_replaces_the_global_one(tmp_path):
    config = base(tmp_path)
    config["preprocess"] = {"min_year": 2015}
    config["domains"]["A"]["min_year"] = None
    config = check(config, tmp_path)
    assert domain_preprocess(config, "A")["min_year"] is None
    assert domain_preprocess(config, "Gear")["min_year"] == 2015
    assert domain_preprocess(config, "A")["kcore"] == config["preprocess"]["kcore"]


def test_the_paper_profile_cuts_amazon_at_2018_and_keeps_all_of_steam():
    config = yaml.safe_load((REPO / "config/experiments/paper.yaml").read_text())
    years = {name: domain_preprocess(config, name)["min_year"] for name in config["domains"]}
    assert years.pop("Steam") is None
    assert set(years.values()) == {2018}


def test_the_authors_code_overlay_validates_on_the_demo_config():
    from snakemake.utils import update_config

    from recg.settings import job_settings

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    overlay = yaml.safe_load((REPO / "config/experiments/authors-code.yaml").read_text())
    update_config(config, copy.deepcopy(overlay))
    config = validate(config, SCHEMA, REPO)
    assert domain_preprocess(config, "Gear")["kcore_mode"] == "single"
    settings = job_settings(config, "gru4rec", "recg", 1, {})
    for section in ("train", "recg"):
        for key, value in overlay[section].items():
            assert settings[key] == value, key


@pytest.mark.parametrize(
    ("overlays", "models"),
    [
        (["experiments/amazon-selection.yaml", "experiments/amazon-question.yaml"], 66),
        (
            [
                "experiments/amazon-selection.yaml",
                "experiments/amazon-question.yaml",
                "encoders/smollm2-llm2vec.yaml",
                "experiments/amazon-question-smollm2.yaml",
            ],
            54,
        ),
        (
            [
                "experiments/amazon-selection.yaml",
                "experiments/amazon-question.yaml",
                "experiments/amazon-inter-sign.yaml",
            ],
            66,
        ),
        (
            [
                "experiments/amazon-selection.yaml",
                "experiments/amazon-question.yaml",
                "experiments/amazon-question-backbones.yaml",
            ],
            108,
        ),
        (
            [
                "experiments/amazon-selection.yaml",
                "experiments/amazon-question.yaml",
                "experiments/amazon-recg-center.yaml",
            ],
            102,
        ),
        (["experiments/amazon-ablation.yaml"], 66),
    ],
)
def test_the_amazon_overlays_validate_on_the_amazon_config(overlays, models):
    """Each overlay's comment says which models it trains; the count keeps it honest."""
    from snakemake.utils import update_config

    folder = REPO / "config"
    config = yaml.safe_load((folder / "experiments/amazon.yaml").read_text())
    for name in overlays:
        update_config(config, yaml.safe_load((folder / name).read_text()))
    config = validate(config, SCHEMA, REPO)
    assert set(config["sources"]) <= set(config["domains"]) >= set(config["targets"])
    for study in config["studies"].values():
        assert set(study["sources"]) <= set(config["domains"])
    assert len(runs(config, lambda source, variant, others: {"gen_domains": others})) == models
