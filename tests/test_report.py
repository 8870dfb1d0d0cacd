import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recg.report import (
    COLUMNS,
    ablation,
    ablation_markdown,
    aggregate,
    collect,
    configuration_markdown,
    data_stats,
    data_stats_markdown,
    gains,
    markdown_table,
    paired_tests,
    sensitivity_keys,
    sweep,
    sweep_markdown,
)


def write_result(
    path, source, target, model, variant, seed, recall, ndcg, settings="s0", swept=None
):
    metrics = [
        {"protocol": p, "metric": m, "k": 10, "value": v}
        for p in ("full", "uni100")
        for m, v in (("recall", recall), ("ndcg", ndcg))
    ]
    result = {
        "source": source,
        "target": target,
        "model": model,
        "variant": variant,
        "settings": settings,
        "seed": seed,
        "metrics": metrics,
    }
    if swept is not None:
        result["swept"] = swept
    path.write_text(json.dumps(result))
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
                        settings=f"{variant:0>8}",
                    )
                )
    return files


@pytest.fixture
def swept_results(tmp_path):
    """-Sem (no recg.alpha) and -RecG at alpha 1e-4 (the main grid) and 1e-2, seeds 1 and 2."""
    files = []
    for seed in (1, 2):
        for variant, alpha, settings, extra in (
            ("sem", None, "aaaaaaaa", 0.0),
            ("recg", 1e-4, "bbbbbbbb", 0.01),
            ("recg", 1e-2, "cccccccc", 0.04),
        ):
            swept = {"train.lr": 0.001} | ({} if alpha is None else {"recg.alpha": alpha})
            files.append(
                write_result(
                    tmp_path / f"{settings}{seed}.json",
                    "A",
                    "B",
                    "sasrec",
                    variant,
                    seed,
                    0.2 + extra + seed / 100,
                    0.1 + extra + seed / 200,
                    settings=settings,
                    swept=swept,
                )
            )
    return files


def test_collect_is_tidy_with_exact_columns(results):
    frame = collect(results)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == len(results) * 4
    assert frame["seed"].dtype.kind == "i"


def test_collect_inserts_sorted_swept_columns_before_protocol(swept_results):
    frame = collect(swept_results)
    assert list(frame.columns) == [
        *COLUMNS[:6],
        "recg.alpha",
        "train.lr",
        *COLUMNS[6:],
    ]
    sem = frame[frame["variant"] == "sem"]
    assert sem["recg.alpha"].isna().all()
    assert set(frame.loc[frame["variant"] == "recg", "recg.alpha"]) == {1e-4, 1e-2}
    assert sensitivity_keys(frame) == ["recg.alpha"]


def test_markdown_table_has_paper_shape(results):
    frame = collect(results)
    lines = markdown_table(frame, "uni100", 10, in_domain=False).strip().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["Source", "Target", "GRU4Rec-Sem R@10 / N@10", "GRU4Rec-RecG R@10 / N@10"]
    assert set(lines[1]) <= set("|-: ")
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert cells[:2] == ["A", "B"]
    recall_sem = 100 * np.mean([0.31, 0.32, 0.33])
    assert cells[2] == f"{recall_sem:.2f} ± 1.00 / 15.00 ± 0.00"


def test_markdown_table_labels_each_swept_value(swept_results):
    lines = markdown_table(collect(swept_results), "uni100", 10, in_domain=False).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[2:] == [
        "SASRec-Sem R@10 / N@10",
        "SASRec-RecG (alpha=0.0001) R@10 / N@10",
        "SASRec-RecG (alpha=0.01) R@10 / N@10",
    ]
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    std = 100 * np.std([0.01, 0.02], ddof=1)
    assert cells[4] == f"25.50 ± {std:.2f} / 14.75 ± {std / 2:.2f}"


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


def test_paired_tests_pair_swept_variant_with_sem_lacking_the_setting(swept_results):
    tests = paired_tests(collect(swept_results))
    part = tests[(tests["protocol"] == "uni100") & (tests["metric"] == "recall")]
    assert sorted(part["recg.alpha"]) == [1e-4, 1e-2]
    row = part[part["recg.alpha"] == 1e-2].iloc[0]
    assert row["settings"] == "cccccccc"
    assert row["train.lr"] == 0.001
    assert row["seeds"] == 2
    assert row["gain"] == pytest.approx(0.04)
    assert row["baseline_mean"] == pytest.approx(0.215)
    assert row["relative_gain"] == pytest.approx(0.04 / 0.215)


def test_base_settings_split_main_grid_from_sweep(swept_results):
    frame = collect(swept_results)
    base = {"aaaaaaaa", "bbbbbbbb"}
    grid = frame[frame["settings"].isin(base)]
    header = markdown_table(grid, "uni100", 10, in_domain=False).splitlines()[0]
    assert "alpha" not in header and "SASRec-RecG R@10" in header
    table = sweep(frame, "uni100", 10, base)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["recg.alpha"] == 1e-2
    assert row["recall_mean"] == pytest.approx(0.255)
    assert row["recall_std"] == pytest.approx(np.std([0.25, 0.26], ddof=1))
    assert row["ndcg_mean"] == pytest.approx(0.1475)
    assert row["seeds"] == 2
    md = sweep_markdown(table, 10)
    assert "| A " in md and "SASRec-RecG" in md and "0.01" in md
    assert sweep(frame, "uni100", 10, None).empty


def test_data_stats_has_table_2_columns():
    stats_json = {
        "domain": "Office",
        "users": 1000,
        "items": 200,
        "interactions": 5000,
        "density": 5000 / (1000 * 200),
        "sequence_length": {"min": 5, "median": 5.0, "mean": 5.0, "max": 9},
        "filters": [],
    }
    table = data_stats({"Office": stats_json})
    assert list(table.columns) == [
        "Domain",
        "#Users",
        "#Items",
        "#Interactions",
        "Density",
        "Avg. length",
    ]
    assert table.iloc[0]["Density"] == pytest.approx(0.025)
    md = data_stats_markdown(table)
    assert "1,000" in md and "2.5000%" in md and "5.00" in md


def test_ablation_rows_follow_paper_order_with_hand_computed_cells(tmp_path):
    files = []
    values = {"recg-no-sg": 0.20, "sem": 0.10, "recg": 0.30}
    for seed in (1, 2):
        for variant, base in values.items():
            files.append(
                write_result(
                    tmp_path / f"{variant}{seed}.json",
                    "A",
                    "B",
                    "gru4rec",
                    variant,
                    seed,
                    base + seed / 100,
                    base / 2,
                )
            )
    files.append(write_result(tmp_path / "sas.json", "A", "B", "sasrec", "recg", 1, 0.1, 0.1))
    table = ablation(collect(files), "uni100", 10)
    assert set(table["model"]) == {"gru4rec"}
    assert list(dict.fromkeys(table["variant"])) == ["sem", "recg", "recg-no-sg"]
    recall = table[(table["variant"] == "recg") & (table["metric"] == "recall")].iloc[0]
    assert recall["mean"] == pytest.approx(0.315)
    assert recall["std"] == pytest.approx(np.std([0.31, 0.32], ddof=1))
    md = ablation_markdown(table, 10).splitlines()
    assert md[0] == "### GRU4Rec trained on A"
    body = [line for line in md if line.startswith("| GRU4Rec")]
    assert [line.split("|")[1].strip() for line in body] == [
        "GRU4Rec-Sem",
        "GRU4Rec-RecG",
        "GRU4Rec-RecG w/o SG",
    ]
    assert "31.50 ± 0.71 / 15.00 ± 0.00" in body[1]


def test_ablation_rows_per_swept_value(tmp_path):
    files = []
    for variant, alpha, value in (
        ("sem", None, 0.1),
        ("recg", 1e-3, 0.2),
        ("recg", 1e-2, 0.3),
        ("recg-no-ig", 1e-3, 0.15),
    ):
        swept = {} if alpha is None else {"recg.alpha": alpha}
        files.append(
            write_result(
                tmp_path / f"{variant}{alpha}.json",
                "A",
                "B",
                "gru4rec",
                variant,
                1,
                value,
                value,
                swept=swept,
            )
        )
    md = ablation_markdown(ablation(collect(files), "uni100", 10), 10)
    body = [line.split("|")[1:3] for line in md.splitlines() if line.startswith("| GRU4Rec")]
    assert [(v.strip(), c.strip()) for v, c in body] == [
        ("GRU4Rec-Sem", "10.00 / 10.00"),
        ("GRU4Rec-RecG (alpha=0.001)", "20.00 / 20.00"),
        ("GRU4Rec-RecG (alpha=0.01)", "30.00 / 30.00"),
        ("GRU4Rec-RecG w/o IG (alpha=0.001)", "15.00 / 15.00"),
    ]


def test_ablation_is_empty_with_two_variants(results):
    table = ablation(collect(results), "uni100", 10)
    assert table.empty
    assert ablation_markdown(table, 10).startswith("_No ablation")


def test_gains_count_significant_wins_and_losses():
    rows = []
    for source, target, gain, p in (
        ("A", "B", 0.02, 0.01),
        ("A", "C", -0.01, 0.02),
        ("B", "A", 0.04, 0.30),
        ("A", "A", 0.01, 0.001),
    ):
        rows.append(
            {
                "source": source,
                "target": target,
                "model": "gru4rec",
                "variant": "recg",
                "settings": "x",
                "protocol": "uni100",
                "metric": "ndcg",
                "k": 10,
                "baseline": "sem",
                "seeds": 3,
                "mean": 0.1 + gain,
                "baseline_mean": 0.1,
                "gain": gain,
                "relative_gain": gain / 0.1,
                "p_value": p,
            }
        )
    table = gains(pd.DataFrame(rows), 10)
    zero = table[table["setting"] == "zero-shot"].iloc[0]
    assert zero["mean_relative_gain"] == pytest.approx(np.mean([0.2, -0.1, 0.4]))
    assert zero["max_relative_gain"] == pytest.approx(0.4)
    assert (zero["wins"], zero["losses"], zero["pairs"]) == (1, 1, 3)
    in_domain = table[table["setting"] == "in-domain"].iloc[0]
    assert (in_domain["wins"], in_domain["losses"], in_domain["pairs"]) == (1, 0, 1)


def test_aggregate_writes_every_output(swept_results, tmp_path):
    stats_file = tmp_path / "stats.json"
    stats_file.write_text(
        json.dumps(
            {
                "users": 10,
                "items": 5,
                "interactions": 30,
                "density": 0.6,
                "sequence_length": {"mean": 3.0},
            }
        )
    )
    names = {
        "metrics": "csv",
        "zero_shot_md": "md",
        "zero_shot_csv": "csv",
        "in_domain_md": "md",
        "in_domain_csv": "csv",
        "tests": "csv",
        "zero_shot_png": "png",
        "in_domain_png": "png",
        "data_stats_md": "md",
        "data_stats_csv": "csv",
        "ablation_md": "md",
        "ablation_csv": "csv",
        "gains_md": "md",
        "gains_csv": "csv",
        "sweep_md": "md",
        "sweep_csv": "csv",
    }
    outputs = {n: tmp_path / "out" / f"{n}.{ext}" for n, ext in names.items()}
    aggregate(
        swept_results,
        outputs,
        "uni100",
        stats_files={"A": stats_file},
        base_settings={"aaaaaaaa", "bbbbbbbb"},
    )
    for path in outputs.values():
        assert path.stat().st_size > 0
    metrics = pd.read_csv(outputs["metrics"])
    assert metrics.columns.tolist() == [*COLUMNS[:6], "recg.alpha", "train.lr", *COLUMNS[6:]]
    for name in ("zero_shot_png", "in_domain_png"):
        assert outputs[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "alpha" not in outputs["zero_shot_md"].read_text()
    assert len(pd.read_csv(outputs["sweep_csv"])) == 1
    assert outputs["ablation_md"].read_text().startswith("_No ablation")
    assert pd.read_csv(outputs["ablation_csv"]).empty
    assert pd.read_csv(outputs["data_stats_csv"])["#Users"].tolist() == [10]
    gains_csv = pd.read_csv(outputs["gains_csv"])
    assert sorted(gains_csv["recg.alpha"].unique()) == [1e-4, 1e-2]
    gains_md = outputs["gains_md"].read_text()
    variants = {line.split("|")[3].strip() for line in gains_md.splitlines()[2:]}
    assert variants == {"-RecG (alpha=0.0001)", "-RecG (alpha=0.01)"}


def test_sweep_keeps_runs_that_lack_a_swept_setting(tmp_path):
    files = [
        write_result(
            tmp_path / f"{v}{lr}.json",
            "A",
            "B",
            "gru4rec",
            v,
            1,
            0.2,
            0.1,
            settings=f"{v}{lr}",
            swept={"train.lr": lr} | alpha,
        )
        for v, alpha in (("sem", {}), ("recg", {"recg.alpha": 0.001}))
        for lr in (0.001, 0.01)
    ]
    table = sweep(collect(files), "uni100", 10, {"sem0.001", "recg0.001"})
    assert table[["variant", "train.lr"]].values.tolist() == [["recg", 0.01], ["sem", 0.01]]
    assert table["recg.alpha"].isna().tolist() == [False, True]


def test_configuration_page_lists_every_setting_one_row_each():
    config = {
        "domains": {"Gear": {"demo": True, "reviews": None}, "Books": {"demo": False}},
        "sources": ["Gear", "Books"],
        "sweep": {},
        "train": {"lr": 0.001, "objective": "all"},
        "backbones": {"sasrec": {"layers": 2, "heads": 2}},
    }
    text = configuration_markdown(config)
    rows = [
        tuple(cell.strip() for cell in line.strip("|").split("|"))
        for line in text.splitlines()
        if line.startswith("| ") and "Setting" not in line
    ]
    assert rows == [
        ("Gear.demo", "True"),
        ("Gear.reviews", "null"),
        ("Books.demo", "False"),
        ("sources", "`Gear`, `Books`"),
        ("(empty)", ""),
        ("lr", "0.001"),
        ("objective", "`all`"),
        ("sasrec.layers", "2"),
        ("sasrec.heads", "2"),
    ]
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## domains",
        "## sources",
        "## sweep",
        "## train",
        "## backbones",
    ]


def test_a_swept_list_setting_is_one_cell(tmp_path):
    files = [
        write_result(
            tmp_path / f"{settings}.json",
            "A",
            "B",
            "gru4rec",
            "recg",
            1,
            0.2 + i / 10,
            0.1 + i / 10,
            settings=settings,
            swept={"recg.gen_domains": value},
        )
        for i, (settings, value) in enumerate(
            (("aaaaaaaa", "all"), ("bbbbbbbb", ["C", "D"]), ("cccccccc", []))
        )
    ]
    frame = collect(files)
    assert set(frame["recg.gen_domains"]) == {"all", "[C D]", "[]"}
    assert sensitivity_keys(frame) == []
    table = sweep(frame, "uni100", 10, set())
    assert set(table["recg.gen_domains"]) == {"all", "[C D]", "[]"}
    assert "[C D]" in markdown_table(frame, "uni100", 10, in_domain=False)
