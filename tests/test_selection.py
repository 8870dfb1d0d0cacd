import json

import pandas as pd
import pytest

from recg.report import paired_tests, selected
from recg.selection import choose, select_to_file

SETTINGS = {"aaaa0001": 0.01, "aaaa0002": 0.001, "aaaa0003": 0.0001}


def result(settings, domain, seed, ndcg, split="valid", **labels):
    return {
        "source": "S",
        "target": domain,
        "model": "gru4rec",
        "variant": "recg",
        "settings": settings,
        "seed": seed,
        "split": split,
        "settings_values": {"recg.alpha": SETTINGS[settings], "train.lr": 0.001},
        "metrics": [
            {"protocol": "uni100", "metric": "ndcg", "k": 10, "value": ndcg},
            {"protocol": "uni100", "metric": "recall", "k": 10, "value": 1 - ndcg},
        ],
        **labels,
    }


def table(values):
    """(settings, domain, seed) -> NDCG@10, as validation results."""
    return [(f"{s}-{d}-{k}.json", result(s, d, k, v)) for (s, d, k), v in values.items()]


def test_the_best_mean_over_seeds_then_domains_wins():
    values = {
        # aaaa0001: A 0.30/0.10 (mean 0.20), B 0.20 -> 0.20
        ("aaaa0001", "A", 1): 0.30,
        ("aaaa0001", "A", 2): 0.10,
        ("aaaa0001", "B", 1): 0.20,
        ("aaaa0001", "B", 2): 0.20,
        # aaaa0002: best single value (0.50) but mean (0.50 + 0.0) / 2, 0.10 -> 0.175
        ("aaaa0002", "A", 1): 0.50,
        ("aaaa0002", "A", 2): 0.00,
        ("aaaa0002", "B", 1): 0.10,
        ("aaaa0002", "B", 2): 0.10,
        # aaaa0003: A 0.21, B 0.20 -> 0.205
        ("aaaa0003", "A", 1): 0.21,
        ("aaaa0003", "A", 2): 0.21,
        ("aaaa0003", "B", 1): 0.20,
        ("aaaa0003", "B", 2): 0.20,
    }
    choice = choose(table(values), "uni100", "ndcg", 10, swept=["recg.alpha"])
    assert choice["chosen"] == "aaaa0003"
    assert choice["chosen_values"] == {"recg.alpha": 0.0001}
    assert choice["score"] == pytest.approx(0.205)
    assert choice["validation_domains"] == ["A", "B"]
    assert [c["settings"] for c in choice["candidates"]] == ["aaaa0003", "aaaa0001", "aaaa0002"]
    assert choice["candidates"][1]["per_domain"]["A"]["mean"] == pytest.approx(0.20)
    assert choice["candidates"][1]["per_domain"]["A"]["seeds"] == 2
    recall = choose(table(values), "uni100", "recall", 10)
    assert recall["chosen"] == "aaaa0002"  # recall = 1 - ndcg here: the lowest NDCG wins


def test_ties_go_to_the_smaller_settings_id():
    values = {(s, "A", 1): 0.2 for s in ("aaaa0002", "aaaa0001")}
    assert choose(table(values), "uni100")["chosen"] == "aaaa0001"


def test_test_results_are_refused():
    rows = table({("aaaa0001", "A", 1): 0.2})
    rows.append(("test.json", result("aaaa0002", "A", 1, 0.9, split="test")))
    with pytest.raises(ValueError, match=r"test\.json: not a validation result"):
        choose(rows, "uni100")
    legacy = {k: v for k, v in result("aaaa0002", "A", 1, 0.9).items() if k != "split"}
    with pytest.raises(ValueError, match="not a validation result"):
        choose([("old.json", legacy)], "uni100")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variant": "sem"}, "variant 'sem', expected 'recg'"),
        ({"target": "S"}, "cannot validate its own"),
        ({"seed": 1, "settings": "aaaa0001"}, "a second result for seed 1"),
    ],
)
def test_inconsistent_candidates_are_refused(change, message):
    rows = table({("aaaa0001", "A", 1): 0.2})
    extra = {**result("aaaa0002", "A", 2, 0.3), **change}
    with pytest.raises(ValueError, match=message):
        choose([*rows, ("x.json", extra)], "uni100")


def test_a_candidate_missing_a_validation_domain_is_refused():
    values = {("aaaa0001", "A", 1): 0.2, ("aaaa0001", "B", 1): 0.2, ("aaaa0002", "A", 1): 0.3}
    with pytest.raises(ValueError, match="aaaa0002 lack validation on B"):
        choose(table(values), "uni100")


def test_the_test_target_may_not_validate(tmp_path):
    paths = []
    for (s, d, k), v in {("aaaa0001", "A", 1): 0.2, ("aaaa0001", "B", 1): 0.1}.items():
        path = tmp_path / f"{s}-{d}.json"
        path.write_text(json.dumps(result(s, d, k, v)))
        paths.append(path)
    with pytest.raises(ValueError, match="test target B is among the validation domains"):
        select_to_file(paths, tmp_path / "out.json", "B", "uni100", "ndcg", 10)
    choice = select_to_file(paths[:1], tmp_path / "out.json", "B", "uni100", "ndcg", 10)
    assert json.loads((tmp_path / "out.json").read_text())["chosen"] == choice["chosen"]


def test_selected_results_keep_only_the_chosen_settings_and_pair_on_seeds():
    rows = []
    for variant, settings, base in (("sem", "s1", 0.10), ("recg", "r1", 0.20), ("recg", "r2", 0.5)):
        for seed in (1, 2, 3):
            rows.append(
                {
                    "source": "S",
                    "target": "T",
                    "model": "gru4rec",
                    "variant": variant,
                    "settings": settings,
                    "seed": seed,
                    "recg.alpha": None if variant == "sem" else {"r1": 0.01, "r2": 0.1}[settings],
                    "protocol": "uni100",
                    "metric": "ndcg",
                    "k": 10,
                    "value": base + 0.01 * seed**2,
                }
            )
    frame = pd.DataFrame(rows)
    choices = [
        {
            "source": "S",
            "test_target": "T",
            "model": "gru4rec",
            "variant": variant,
            "chosen": chosen,
            "chosen_values": values,
            "validation_domains": ["V"],
            "score": 0.3,
            "candidates": [{}] * n,
        }
        for variant, chosen, values, n in (
            ("sem", "s1", {}, 1),
            ("recg", "r1", {"recg.alpha": 0.01}, 2),
        )
    ]
    results, table = selected(frame, choices)
    assert set(results["settings"]) == {"s1", "r1"}
    assert list(table["chosen"]) == ["", "alpha=0.01"]
    tests = paired_tests(results)
    assert len(tests) == 1 and tests["seeds"].item() == 3
    assert tests["gain"].item() == pytest.approx(0.10)
    with pytest.raises(ValueError, match="no test results of the chosen settings r9"):
        selected(frame, [{**choices[1], "chosen": "r9"}])
