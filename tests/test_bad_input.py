"""The bad-input catalogue (docs/troubleshooting.md): every case either fails with a message that
names the file and line (or the config key) and writes nothing, or is tolerated and counted in
stats.json. Inputs are never modified."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recg import io as recg_io
from recg.config_checks import check_duplicate_keys, load_yaml_strict, same_files_warning
from recg.data import DomainSpec, preprocess_to_files
from recg.errors import ConfigError, EmptyDomainError, InputError, OutputError
from recg.io import write_parquet

ITEMS = "ABCDE"
OUTPUTS = ("items.parquet", "sequences.parquet", "stats.json")


def review(user: str, item: str, ts: int = 1_600_000_000_000, **extra) -> dict:
    return {"user_id": user, "parent_asin": item, "timestamp": ts, "rating": 5.0, **extra}


def meta(item: str, title: str = "", **extra) -> dict:
    return {"parent_asin": item, "title": title or f"Item {item}", "features": ["f"], **extra}


def good_reviews() -> list:
    return [
        review(f"u{u}", item, 1_600_000_000_000 + k)
        for u in range(6)
        for k, item in enumerate(ITEMS)
    ]


def good_meta() -> list:
    return [meta(i) for i in ITEMS]


def to_bytes(lines: list) -> bytes:
    return b"".join(
        (
            line
            if isinstance(line, bytes)
            else (line if isinstance(line, str) else json.dumps(line)).encode()
        )
        + b"\n"
        for line in lines
    )


def write(path: Path, lines: list | bytes, gz: bool = True) -> Path:
    data = lines if isinstance(lines, bytes) else to_bytes(lines)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


class Case:
    """One domain in tmp_path: its inputs, their digests, and where preprocess writes."""

    def __init__(self, tmp_path: Path, reviews=None, meta_lines=None, gz: bool = True, **spec):
        suffix = ".jsonl.gz" if gz else ".jsonl"
        self.reviews = write(
            tmp_path / f"R{suffix}", good_reviews() if reviews is None else reviews, gz
        )
        self.meta = write(
            tmp_path / f"meta_R{suffix}", good_meta() if meta_lines is None else meta_lines, gz
        )
        self.out = tmp_path / "results"
        self.spec = DomainSpec("R", str(self.reviews), str(self.meta), **{"kcore": 1, **spec})
        self.digests = self._digests()
        self.log: list[str] = []

    def _digests(self) -> dict[Path, str]:
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (self.reviews, self.meta)}

    def run(self) -> dict:
        try:
            return preprocess_to_files(self.spec, *(self.out / n for n in OUTPUTS), self.log.append)
        finally:
            assert self._digests() == self.digests, "an input file was modified"

    def stats(self) -> dict:
        return json.loads((self.out / "stats.json").read_text())

    def fails(self, error: type[Exception], match: str) -> str:
        with pytest.raises(error, match=match) as info:
            self.run()
        left = sorted(p.name for p in self.out.rglob("*")) if self.out.exists() else []
        assert left == [], f"partial output left behind: {left}"
        return str(info.value)


# ---------------------------------------------------------------------------------------- reviews


def test_valid_domain_reports_clean_input(tmp_path):
    case = Case(tmp_path)
    case.run()
    stats = case.stats()["input"]
    assert stats["reviews"] == {"lines": 30, "bad_lines": 0, "first_bad_lines": []}
    assert stats["meta"]["duplicate_lines"] == 0 and stats["meta"]["reviewed_items_missing"] == 0


def test_malformed_json_line(tmp_path):
    reviews = good_reviews()
    reviews.insert(3, '{"user_id": "u9", "parent_asin": ')
    message = Case(tmp_path, reviews).fails(InputError, r"R\.jsonl\.gz:4: malformed JSON")
    assert message.endswith("(to skip such lines, set preprocess.max_bad_lines)")


def test_timestamp_as_text(tmp_path):
    reviews = good_reviews()
    reviews[7]["timestamp"] = "2020-01-01"
    Case(tmp_path, reviews).fails(
        InputError, r"R\.jsonl\.gz:8: field 'timestamp' must be int, got str '2020-01-01'"
    )


def test_float_timestamp(tmp_path):
    reviews = good_reviews()
    reviews[0]["timestamp"] = 1.6e12
    Case(tmp_path, reviews).fails(InputError, r":1: field 'timestamp' must be int, got float")


def test_rating_as_text_is_not_read_so_not_an_error(tmp_path):
    reviews = good_reviews()
    reviews[2]["rating"] = "five stars"
    case = Case(tmp_path, reviews)
    case.run()
    assert case.stats()["interactions"] == 30


@pytest.mark.parametrize("key", ["user_id", "parent_asin", "timestamp"])
def test_missing_required_field(tmp_path, key):
    reviews = good_reviews()
    del reviews[5][key]
    Case(tmp_path, reviews).fails(InputError, rf"R\.jsonl\.gz:6: missing required field '{key}'")


def test_null_required_field(tmp_path):
    reviews = good_reviews()
    reviews[5]["user_id"] = None
    Case(tmp_path, reviews).fails(InputError, r":6: missing required field 'user_id'")


def test_user_id_as_number(tmp_path):
    reviews = good_reviews()
    reviews[1]["user_id"] = 17
    Case(tmp_path, reviews).fails(InputError, r":2: field 'user_id' must be str, got int 17")


@pytest.mark.parametrize("gz", [True, False])
def test_empty_file(tmp_path, gz):
    Case(tmp_path, b"", gz=gz).fails(
        InputError, r"R\.jsonl(\.gz)?: no reviews \(the file is empty\)"
    )


def test_blank_lines_only(tmp_path):
    Case(tmp_path, b"\n\n  \n").fails(InputError, "no reviews")


def test_truncated_gzip(tmp_path):
    case = Case(tmp_path, [review(f"u{i}", "A", i) for i in range(3000)])
    data = case.reviews.read_bytes()
    case.reviews.write_bytes(data[: len(data) // 2])
    case.digests = case._digests()
    case.fails(InputError, r"R\.jsonl\.gz: truncated or corrupt gzip file")


def test_gzip_name_on_plain_text_and_plain_name_on_gzip_both_read(tmp_path):
    case = Case(tmp_path)
    plain = tmp_path / "plain.jsonl.gz"
    plain.write_bytes(to_bytes(good_reviews()))
    packed = tmp_path / "packed.jsonl"
    packed.write_bytes(gzip.compress(to_bytes(good_reviews())))
    for path in (plain, packed):
        case.spec.reviews = str(path)
        assert case.run()["interactions"] == 30


def test_non_utf8_bytes_in_a_read_field(tmp_path):
    lines = to_bytes(good_reviews()).splitlines()
    lines[4] = lines[4].replace(b'"u0"', b'"u\xff0"')
    Case(tmp_path, b"\n".join(lines) + b"\n").fails(
        InputError, r"R\.jsonl\.gz:5: field 'user_id' is not UTF-8 text"
    )


def test_non_utf8_bytes_in_review_text_are_not_read(tmp_path):
    reviews = good_reviews()
    reviews[4]["text"] = "PLACEHOLDER"
    data = to_bytes(reviews).replace(b"PLACEHOLDER", b"caf\xe9")
    case = Case(tmp_path, data)
    case.run()
    assert case.stats()["interactions"] == 30


def test_non_utf8_review_text_next_to_a_bad_line_is_still_not_an_error(tmp_path):
    reviews = good_reviews()
    reviews[4]["text"] = "PLACEHOLDER"
    reviews[9]["timestamp"] = None
    data = to_bytes(reviews).replace(b"PLACEHOLDER", b"caf\xe9")
    Case(tmp_path, data).fails(InputError, r":10: missing required field 'timestamp'")


def test_csv_file(tmp_path):
    csv = b"user_id,parent_asin,timestamp\nu1,A,1600000000000\n"
    Case(tmp_path, csv).fails(
        InputError,
        r"R\.jsonl\.gz:1: malformed JSON: .*expected JSON Lines: one JSON object per line",
    )


def test_json_array_on_one_line(tmp_path):
    Case(tmp_path, [json.dumps(good_reviews())]).fails(
        InputError, r":1: expected a JSON object, got list \(a JSON array is not JSON Lines"
    )


def test_pretty_printed_json_array(tmp_path):
    data = json.dumps(good_reviews(), indent=2).encode()
    Case(tmp_path, data).fails(InputError, r":1: malformed JSON: .*expected JSON Lines")


def test_missing_reviews_file(tmp_path):
    case = Case(tmp_path)
    case.spec.reviews = str(tmp_path / "nope.jsonl.gz")
    case.fails(InputError, r"reviews file not found: .*nope\.jsonl\.gz")


# ---------------------------------------------------------------------------------- max_bad_lines


def dirty_reviews() -> list:
    reviews = good_reviews()
    reviews[2] = "not json"
    del reviews[10]["timestamp"]
    reviews[20]["parent_asin"] = 5
    return reviews


def test_bad_lines_within_max_bad_lines_are_skipped_and_reported(tmp_path):
    case = Case(tmp_path, dirty_reviews(), max_bad_lines=3)
    case.run()
    report = case.stats()["input"]["reviews"]
    assert report == {"lines": 30, "bad_lines": 3, "first_bad_lines": [3, 11, 21]}
    assert case.stats()["filters"][0] == {"step": "read", "interactions": 27}
    assert any("skipped 3 bad lines" in m and "3, 11, 21" in m for m in case.log)


def test_one_bad_line_more_than_max_bad_lines_fails_naming_it(tmp_path):
    message = Case(tmp_path, dirty_reviews(), max_bad_lines=2).fails(
        InputError, r"R\.jsonl\.gz:21: field 'parent_asin' must be str"
    )
    assert "more than preprocess.max_bad_lines=2" in message and "3, 11, 21" in message


def test_all_lines_bad_is_an_error_even_when_tolerated(tmp_path):
    Case(tmp_path, ["x", "y"], max_bad_lines=5).fails(InputError, "no usable review: all 2 lines")


def test_max_bad_lines_reaches_the_spec_from_the_config_section():
    # The preprocess rule builds DomainSpec(**{name, reviews, meta, format, **config["preprocess"]}).
    spec = DomainSpec(
        **{
            "name": "R",
            "reviews": "r",
            "meta": "m",
            "format": "amazon2023",
            "kcore": 5,
            "kcore_mode": "iterative",
            "min_year": None,
            "template": "{title}",
            "max_field_chars": 100,
            "max_bad_lines": 7,
        }
    )
    assert spec.max_bad_lines == 7


# ------------------------------------------------------------------------------------------- meta


def test_duplicate_meta_lines_first_wins_and_are_counted(tmp_path):
    lines = [*good_meta(), meta("A", "Second A"), meta("Z", "z"), meta("Z", "z again")]
    case = Case(tmp_path, meta_lines=lines)
    case.run()
    assert case.stats()["input"]["meta"]["duplicate_lines"] == 2
    items = pq.read_table(case.out / "items.parquet").to_pylist()
    assert items[0]["title"] == "Item A"


def test_items_missing_from_meta_and_meta_items_never_reviewed_are_counted(tmp_path):
    lines = [meta(i) for i in "ABCD"] + [meta("X"), meta("Y")]
    case = Case(tmp_path, meta_lines=lines)
    case.run()
    report = case.stats()["input"]["meta"]
    assert report["reviewed_items_missing"] == 1 and report["unreviewed_items"] == 2
    assert case.stats()["items"] == 4
    assert any("reviewed items without metadata (dropped as no-text): 1" in m for m in case.log)


def test_html_laden_megabyte_description_is_cleaned_cut_and_quick(tmp_path):
    html = "<div class='a'><p>Great &amp; <b>sturdy</b>&nbsp;lamp</p></div>\n" * 16_000
    assert len(html) > 1_000_000
    lines = [
        meta("A", description=[html, "<script>" + "x" * 500000 + "</script>"]),
        *good_meta()[1:],
    ]
    case = Case(tmp_path, meta_lines=lines, max_field_chars=200)
    start = time.perf_counter()
    case.run()
    assert time.perf_counter() - start < 5
    text = pq.read_table(case.out / "items.parquet")["text"][0].as_py()
    description = text.split("Description: ")[1]
    assert description.startswith("Great & sturdy lamp Great & sturdy lamp")
    assert len(description) <= 200 and "<" not in description


def test_title_empty_after_clean_up_is_counted_and_the_item_keeps_its_other_fields(tmp_path):
    lines = [meta("A", title="x", features=["oak"]), *good_meta()[1:]]
    lines[0]["title"] = "<b> </b>&nbsp;"
    lines[1] = {"parent_asin": "B", "title": "<i></i>", "features": [], "description": []}
    case = Case(tmp_path, meta_lines=lines)
    case.run()
    assert case.stats()["input"]["meta"]["empty_titles"] == 2
    items = {r["parent_asin"]: r for r in pq.read_table(case.out / "items.parquet").to_pylist()}
    assert items["A"]["title"] == "" and "title: no title provided." in items["A"]["text"]
    assert "Feature: oak." in items["A"]["text"]
    assert "B" not in items  # nothing left: dropped by the no_text filter
    no_text = next(s for s in case.stats()["filters"] if s["step"] == "no_text")
    assert no_text["removed_items"] == 1


def test_meta_lines_without_an_id_are_counted(tmp_path):
    lines = [*good_meta(), {"title": "orphan"}]
    case = Case(tmp_path, meta_lines=lines)
    case.run()
    report = case.stats()["input"]["meta"]
    assert report["lines_without_id"] == 1 and report["first_lines_without_id"] == [6]


def test_meta_without_any_id_names_the_field(tmp_path):
    lines = [{"asin": i, "title": "t"} for i in ITEMS]
    Case(tmp_path, meta_lines=lines).fails(
        InputError, r"meta_R\.jsonl\.gz: no line has the item id field 'parent_asin'"
    )


def test_malformed_meta_line(tmp_path):
    Case(tmp_path, meta_lines=[*good_meta(), "{oops"]).fails(
        InputError, r"meta_R\.jsonl\.gz:6: malformed JSON"
    )


def test_non_utf8_meta_bytes_are_replaced_and_counted(tmp_path):
    lines = good_meta()
    lines[1]["title"] = "PLACEHOLDER"
    data = to_bytes(lines).replace(b"PLACEHOLDER", b"Caf\xe9 chair")
    case = Case(tmp_path, meta_lines=data)
    case.run()
    report = case.stats()["input"]["meta"]
    assert report["non_utf8_lines"] == 1 and report["first_non_utf8_lines"] == [2]
    titles = pq.read_table(case.out / "items.parquet")["title"].to_pylist()
    assert titles[1] == "Caf\ufffd chair"


def test_missing_meta_file(tmp_path):
    case = Case(tmp_path)
    case.spec.meta = str(tmp_path / "nope.jsonl.gz")
    case.fails(InputError, r"meta file not found")


# ---------------------------------------------------------------------------------------- domains


@pytest.mark.parametrize(
    ("setting", "step"),
    [({"min_year": 2030}, "min_year"), ({"kcore": 40}, "kcore")],
)
def test_a_filter_that_empties_the_domain_names_domain_and_filter(tmp_path, setting, step):
    Case(tmp_path, **setting).fails(
        EmptyDomainError, rf"domain 'R': no interactions left after filter '{step}'"
    )


def test_no_reviewed_item_with_text(tmp_path):
    lines = [{"parent_asin": i, "title": "", "features": []} for i in ITEMS]
    Case(tmp_path, meta_lines=lines).fails(
        EmptyDomainError, r"domain 'R': no interactions left after filter 'no_text' .*meta_R"
    )


# ---------------------------------------------------------------------------------- atomic writes


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_failure_inside_a_write_leaves_neither_output_nor_temporary_file(tmp_path, monkeypatch):
    case = Case(tmp_path)
    real = pq.write_table
    calls = []

    def failing(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 2:  # the sequences file, after items.parquet was written in full
            Path(where).write_bytes(b"PAR1 half")
            raise OSError(28, "No space left on device")
        real(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", failing)
    with pytest.raises(OutputError, match=r"sequences\.parquet.*: No space left on device"):
        case.run()
    assert leftovers(case.out) == []


KILLED_WRITER = """
import sys, time
import pyarrow as pa, pyarrow.parquet as pq
from recg.io import write_parquet

def stalled(table, where, **kwargs):
    with open(where, "wb") as handle:
        handle.write(b"PAR1" + b"x" * 100_000)
        handle.flush()
    print("writing", flush=True)
    time.sleep(60)

pq.write_table = stalled
write_parquet(pa.table({"a": list(range(1000))}), sys.argv[1], {"run": 1})
"""


def test_a_writer_killed_mid_write_leaves_no_output_and_its_temporary_file_is_swept(tmp_path):
    target = tmp_path / "out" / "big.parquet"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout.readline().strip() == b"writing"
        temps = leftovers(target.parent)
        assert len(temps) == 1 and temps[0].startswith(".big.parquet.")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not target.exists()
    write_parquet(pa.table({"a": [1, 2]}), target, {"run": 2})
    assert leftovers(target.parent) == ["big.parquet"]
    assert pq.read_table(target)["a"].to_pylist() == [1, 2]


# The kernel kills the writer (SIGXFSZ) once a file it writes passes LIMIT bytes: a real kill in the
# middle of a real writer's output, whatever the writer, with no part of it stubbed.
LIMIT = 64 * 1024
KILLED_BY_THE_KERNEL = """
import resource, signal, sys
kind, target = sys.argv[1], sys.argv[2]
if kind == "json":
    from recg.io import write_json
    write = lambda: write_json({"rows": list(range(300_000))}, target)
elif kind == "model":
    import torch
    from recg.io import save_torch
    weights = {"w": torch.randn(500_000, generator=torch.Generator().manual_seed(0))}
    write = lambda: save_torch(weights, target)
elif kind == "png":
    import numpy as np
    from matplotlib.figure import Figure
    from recg.figures import _save
    fig = Figure(figsize=(6, 6))
    fig.add_subplot().imshow(np.random.default_rng(0).random((600, 600, 3)))
    write = lambda: _save(fig, target)
else:  # Parquet and JSON outputs that appear together or not at all
    import pyarrow as pa
    from recg.io import write_tables
    table = pa.table({"a": list(range(300_000))})
    write = lambda: write_tables({target: table}, {"run": 1}, {target + ".json": {"run": 1}})
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), resource.RLIM_INFINITY))
write()
"""


@pytest.mark.parametrize(
    ("kind", "name"),
    [("json", "stats.json"), ("model", "model.pt"), ("png", "plot.png"), ("tables", "t.parquet")],
)
def test_a_writer_killed_by_the_kernel_mid_write_leaves_no_output(tmp_path, kind, name):
    target = tmp_path / "out" / name
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no .pyc write may meet the limit first
    result = subprocess.run(
        [sys.executable, "-c", KILLED_BY_THE_KERNEL, kind, str(target), str(LIMIT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == -signal.SIGXFSZ, result.stderr[-3000:]
    outputs = [target, *([Path(f"{target}.json")] if kind == "tables" else [])]
    assert not any(output.exists() for output in outputs)
    temps = leftovers(target.parent)
    assert all(t.startswith(f".{name}.") and t.endswith(".tmp") for t in temps)
    assert len(temps) == len(outputs)
    assert (target.parent / temps[0]).stat().st_size == LIMIT  # cut off mid-write
    for output in outputs:  # the next write of an output sweeps what was left of it
        recg_io.write_json({"run": 2}, output)
    assert leftovers(target.parent) == sorted(output.name for output in outputs)


def test_temporary_files_of_a_running_writer_are_left_alone(tmp_path):
    target = tmp_path / "t.json"
    with recg_io.atomic_path(target) as mine:
        mine.write_text("{}")
        recg_io.write_json({"other": 1}, target)  # another write of the same path meanwhile
        assert mine.exists()
    assert leftovers(tmp_path) == ["t.json"]


def test_an_output_folder_that_cannot_be_created_names_the_path(tmp_path):
    case = Case(tmp_path)
    blocker = tmp_path / "results"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(OutputError, match=r"cannot write .*results/items\.parquet"):
        preprocess_to_files(case.spec, *(blocker / n for n in OUTPUTS), lambda m: None)
    assert blocker.read_text().startswith("a file")


@contextlib.contextmanager
def tmpfs(folder: Path, size: str, *options: str):
    """A real small file system at `folder` (root only; skipped where mounting is not allowed)."""
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs"]
    if os.geteuid() != 0 or subprocess.run([*mount, str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_full_disk_fails_naming_the_file_and_leaves_nothing(tmp_path):
    case = Case(tmp_path)
    with tmpfs(tmp_path / "full", "64k") as disk:
        with (disk / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"x" * 4096)
        outputs = [disk / "results" / n for n in OUTPUTS]
        with pytest.raises(OutputError, match=r"cannot write .*full/results/.*No space left"):
            preprocess_to_files(case.spec, *outputs, lambda m: None)
        assert leftovers(disk / "results") == []
        with pytest.raises(OutputError, match=r"cannot write .*full/x\.json: No space left"):
            recg_io.write_json({"a": "x" * 100_000}, disk / "x.json")
        assert leftovers(disk) == ["filler", "results"]


def test_a_read_only_file_system_names_the_path(tmp_path):
    case = Case(tmp_path)
    with tmpfs(tmp_path / "ro", "1m", "ro") as disk:
        with pytest.raises(OutputError, match=r"cannot write .*ro/x\.json: Read-only file system"):
            recg_io.write_json({}, disk / "x.json")
        outputs = [disk / "results" / n for n in OUTPUTS]
        with pytest.raises(OutputError, match=r"cannot write .*ro/results/items\.parquet"):
            preprocess_to_files(case.spec, *outputs, lambda m: None)
        assert leftovers(disk) == []


# ------------------------------------------------------------------------------------ config files


def test_duplicate_domain_names_the_file_line_and_key_path(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "domains:\n"
        "  Scientific:\n"
        "    reviews: a.jsonl.gz\n"
        "    meta: meta_a.jsonl.gz\n"
        "  Office:\n"
        "    reviews: b.jsonl.gz\n"
        "  Scientific:\n"
        "    reviews: c.jsonl.gz\n"
    )
    before = path.read_bytes()
    with pytest.raises(
        ConfigError,
        match=r"config\.yaml line 7: duplicate key 'domains\.Scientific' \(first at line 2",
    ):
        check_duplicate_keys(path)
    with pytest.raises(ConfigError):
        load_yaml_strict(path)
    assert path.read_bytes() == before


def test_duplicate_keys_deeper_and_in_flow_style(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: {lr: 1.0e-3, lr: 2.0e-3}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml line 1: duplicate key 'train\.lr'"):
        check_duplicate_keys(path)
    path.write_text("sources:\n  - {a: 1, a: 2}\n")
    with pytest.raises(ConfigError, match=r"line 2: duplicate key 'sources\[0\]\.a'"):
        check_duplicate_keys(path)


def test_strict_loader_loads_a_clean_file_and_names_the_line_of_a_syntax_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("domains:\n  A: {reviews: r}\nseeds: [1, 2]\n")
    assert load_yaml_strict(path) == {"domains": {"A": {"reviews": "r"}}, "seeds": [1, 2]}
    path.write_text("domains:\n  A: {reviews: r\nseeds: [1]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml line \d+: not valid YAML"):
        load_yaml_strict(path)


def test_every_shipped_config_has_unique_keys():
    root = Path(__file__).parents[1] / "config"
    for path in sorted(root.rglob("*.yaml")):
        check_duplicate_keys(path)


def test_two_domains_reading_one_reviews_file_are_warned_about(tmp_path):
    (tmp_path / "data").mkdir()
    domains = {
        "A": {"reviews": "data/x.jsonl.gz", "meta": "m"},
        "B": {"reviews": "./data/../data/x.jsonl.gz", "meta": "m"},
        "C": {"reviews": "data/y.jsonl.gz", "meta": "m"},
        "Demo": {"demo": True},
    }
    warnings = same_files_warning(domains, tmp_path)
    assert warnings == [
        "domains 'A', 'B' read the same reviews file data/x.jsonl.gz: "
        "they would be one domain under several names"
    ]


# ----------------------------------------------------------------------------------------- safety


class Payload:
    def __reduce__(self):
        return (os.system, ("echo owned",))


def test_model_files_are_loaded_without_unpickling_arbitrary_objects(tmp_path):
    import pickle

    import torch

    from recg.models import load_model

    path = tmp_path / "model.pt"
    torch.save({"weights": Payload()}, path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        torch.load(path, weights_only=True)
    arch = {"name": "gru4rec", "llm_dim": 8, "hidden": 4, "max_len": 5, "dropout": 0.0}
    with pytest.raises(pickle.UnpicklingError):
        load_model(path, arch)
