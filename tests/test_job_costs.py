import pytest

from recg.errors import InputError
from recg.job_costs import markdown, read_benchmark, summarise, write

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench_file(path, *rows):
    path.write_text(
        HEADER + "".join(f"{s}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t1\n" for s, rss in rows)
    )
    return path


def test_summary_per_rule_from_hand_made_benchmarks(tmp_path):
    train = [
        bench_file(tmp_path / "a.tsv", (10.0, 500.5)),
        bench_file(tmp_path / "b.tsv", (30.0, 700.0)),
        bench_file(tmp_path / "c.tsv", (20.0, "NA")),
        tmp_path / "run-before-benchmarks.tsv",
    ]
    evaluate = [bench_file(tmp_path / "e.tsv", (1.0, 100.0), (3.0, 120.0))]
    rows = summarise({"train": train, "evaluate": evaluate, "embed": []})
    assert rows[0] == {
        "rule": "train",
        "jobs": 4,
        "recorded": 3,
        "total_s": 60.0,
        "median_s": 20.0,
        "max_s": 30.0,
        "max_rss_mib": 700.0,
    }
    assert rows[1]["total_s"] == 2.0  # repeats: their mean
    assert rows[1]["max_rss_mib"] == 120.0
    assert rows[2] == {"rule": "embed", "jobs": 0, "recorded": 0} | dict.fromkeys(
        ["total_s", "median_s", "max_s", "max_rss_mib"]
    )
    table = markdown(rows)
    assert "| train | 4 | 3 | 60.0 | 20.0 | 30.0 | 700.0 |" in table
    assert "| embed | 0 | 0 | – | – | – | – |" in table
    write(rows, tmp_path / "costs.csv", tmp_path / "costs.md")
    assert (tmp_path / "costs.md").read_text() == table
    assert (tmp_path / "costs.csv").read_text().splitlines()[0].startswith("rule,jobs,recorded")


def test_a_malformed_benchmark_names_file_and_line(tmp_path):
    bad = bench_file(tmp_path / "bad.tsv", (5.0, 1.0), ("oops", 2.0))
    with pytest.raises(InputError, match=r"bad\.tsv:3: s='oops'"):
        read_benchmark(bad)
    other = tmp_path / "other.tsv"
    other.write_text("seconds\n1\n")
    with pytest.raises(InputError, match=r"other\.tsv: no column 's'"):
        read_benchmark(other)
    empty = tmp_path / "empty.tsv"
    empty.write_text(HEADER)
    with pytest.raises(InputError, match="no benchmark row"):
        read_benchmark(empty)
    with pytest.raises(InputError):
        summarise({"train": [bad]})
