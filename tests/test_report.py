import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recg.report import COLUMNS, aggregate, collect, markdown_table, paired_tests


def write_result(path, source, target, model, variant, seed, recall, ndcg):
    metrics = [
        {"protocol": p, "metric": m, "k": 10, "value": v}
        for p in ("full", "uni100")
        for m, v in (("recall", recall), ("ndcg", ndcg))
    ]
    path.write_text(
        json.dumps(
            {
                "source": source,
                "target": target,
                "model": model,
                "variant": variant,
                "seed": seed,
                "metrics": metrics,
            }
        )
    )
    return path


@pytest.fixture
def results(tmp_path):
    files = []
    gains = [0.02, 0.03, 0.025]
    for seed, gain in zip([1, 2, 3], gains, strict=True):
        for variant, extra in (("sem", 0.0), ("recg", gain)):
            for target in ("A", "B"):
                files.append(
                    write_result(
                        tmp_path / f"{variant}{seed}{target}.json",
                        "A",
                        target,
                        "gru4rec",
                        variant,
                        seed,
                        0.3 + extra + seed / 100,
                        0.15 + extra,
                    )
                )
    return files


def test_collect_is_tidy_with_exact_columns(results):
    frame = collect(results)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == len(results) * 4
    assert frame["seed"].dtype.kind == "i"


def test_markdown_table_has_paper_shape(results):
    frame = collect(results)
    table = markdown_table(frame, "uni100", 10, in_domain=False)
    lines = table.strip().splitlines()
    assert lines[0] == "| Source | Target | GRU4Rec-Sem R@10 / N@10 | GRU4Rec-RecG R@10 / N@10 |"
    assert lines[2].startswith("| A | B | ")
    recall_sem = 100 * np.mean([0.31, 0.32, 0.33])
    assert f"{recall_sem:.2f} ± 1.00" in lines[2]


def test_paired_t_test_over_seeds(results):
    tests = paired_tests(collect(results))
    row = tests[
        (tests["target"] == "B") & (tests["protocol"] == "uni100") & (tests["metric"] == "recall")
    ].iloc[0]
    assert row["seeds"] == 3
    assert row["gain"] == pytest.approx(np.mean([0.02, 0.03, 0.025]))
    diffs = np.array([0.02, 0.03, 0.025])
    t = diffs.mean() / (diffs.std(ddof=1) / np.sqrt(3))
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(t, df=2))


def test_aggregate_writes_every_output(results, tmp_path):
    names = [
        "metrics",
        "zero_shot_md",
        "zero_shot_csv",
        "in_domain_md",
        "in_domain_csv",
        "tests",
        "plot",
    ]
    outputs = {n: tmp_path / "out" / f"{n}.{'png' if n == 'plot' else 'txt'}" for n in names}
    aggregate(results, outputs, "uni100")
    for path in outputs.values():
        assert path.stat().st_size > 0
    assert pd.read_csv(outputs["metrics"]).columns.tolist() == COLUMNS
    assert outputs["plot"].read_bytes()[:4] == b"\x89PNG"
