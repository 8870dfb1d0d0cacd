import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recg.data import (
    FORMATS,
    DomainSpec,
    Interactions,
    dedupe_first,
    kcore,
    load_sequences,
    preprocess,
    preprocess_to_files,
    read_interactions,
)
from recg.errors import EmptyDomainError, InputError
from recg.io import read_parquet_metadata


def write_jsonl(path: Path, records, gz: bool = True) -> Path:
    lines = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(lines)
    else:
        path.write_text(lines)
    return path


def review(user, item, ts):
    return {"user_id": user, "parent_asin": item, "timestamp": ts, "rating": 5.0, "text": ""}


def meta(item, title="t", **extra):
    return {"parent_asin": item, "title": title, "features": [], "description": [], **extra}


def inter(pairs):
    users = sorted({u for u, _ in pairs})
    items = sorted({i for _, i in pairs})
    return Interactions(
        users=users,
        items=items,
        user=np.array([users.index(u) for u, _ in pairs], np.int32),
        item=np.array([items.index(i) for _, i in pairs], np.int32),
        time=np.arange(len(pairs), dtype=np.int64),
        order=np.arange(len(pairs), dtype=np.int64),
    )


def test_kcore_iterative_cascades_and_single_pass_does_not():
    # k=2: item z has one interaction; removing it leaves user c with one, which removes c,
    # which leaves item y with one (from b), which removes y, then b has one (x) ...
    pairs = [
        ("a", "x"),
        ("a", "w"),
        ("b", "x"),
        ("b", "y"),
        ("c", "y"),
        ("c", "z"),
        ("d", "x"),
        ("d", "w"),
    ]
    data = inter(pairs)
    kept, rounds = kcore(data, 2, iterative=True)
    got = sorted((data.users[u], data.items[i]) for u, i in zip(kept.user, kept.item, strict=True))
    assert got == [("a", "w"), ("a", "x"), ("d", "w"), ("d", "x")]
    assert rounds == 4
    single, _ = kcore(data, 2, iterative=False)
    got = sorted(
        (data.users[u], data.items[i]) for u, i in zip(single.user, single.item, strict=True)
    )
    # one pass: z (1 interaction) goes; user counts were all 2 before the pass
    assert ("c", "z") not in got and ("b", "y") in got and ("c", "y") in got


def test_dedupe_keeps_earliest_then_first_in_file():
    data = Interactions(
        users=["u"],
        items=["a", "b"],
        user=np.zeros(4, np.int32),
        item=np.array([0, 1, 0, 1], np.int32),
        time=np.array([5, 3, 2, 3], np.int64),
        order=np.arange(4, dtype=np.int64),
    )
    kept = dedupe_first(data)
    assert kept.order.tolist() == [1, 2]  # a at t=2 (row 2), b tie at t=3 -> first in file (row 1)


@pytest.fixture
def small_domain(tmp_path):
    reviews = []
    for u in range(6):
        for k, item in enumerate(["A", "B", "C", "D", "E"]):
            reviews.append(review(f"u{u}", item, 1000 * k))
    # same timestamp for C and B for user u0: file order (C written first) must win
    reviews.insert(0, review("u9", "C", 7))
    reviews.insert(1, review("u9", "B", 7))
    reviews += [review("u9", i, 9) for i in ["A", "D", "E"]]
    reviews.append(review("u0", "A", 99999))  # repeated pair: dropped, earliest kept
    write_jsonl(tmp_path / "R.jsonl.gz", reviews)
    write_jsonl(
        tmp_path / "meta_R.jsonl.gz",
        [meta(i, f"Item {i}", description=[f"about {i}"]) for i in "ABCDE"] + [meta("Z", "")],
    )
    return DomainSpec("R", str(tmp_path / "R.jsonl.gz"), str(tmp_path / "meta_R.jsonl.gz"))


def test_preprocess_builds_chronological_sequences_with_stable_ties(small_domain):
    domain = preprocess(small_domain, log=lambda m: None)
    items = domain.items.to_pylist()
    assert [r["parent_asin"] for r in items] == list("ABCDE")
    assert [r["item_idx"] for r in items] == [1, 2, 3, 4, 5]
    assert items[0]["text"].startswith("Please summarize")
    seqs = {r["user_id"]: r["item_seq"] for r in domain.sequences.to_pylist()}
    assert seqs["u0"] == [1, 2, 3, 4, 5]
    assert seqs["u9"] == [3, 2, 1, 4, 5]  # C and B share a timestamp: file order
    steps = {s["step"]: s for s in domain.stats["filters"]}
    assert steps["dedupe"]["removed_interactions"] == 1
    assert domain.stats["users"] == 7 and domain.stats["items"] == 5
    assert domain.stats["interactions"] == 35


def test_output_schemas_and_provenance(small_domain, tmp_path):
    out = {n: tmp_path / f"{n}.parquet" for n in ("items", "sequences")}
    stats = preprocess_to_files(
        small_domain, out["items"], out["sequences"], tmp_path / "s.json", print
    )
    items = pq.read_schema(out["items"])
    assert items.names == ["item_idx", "parent_asin", "title", "text"]
    assert items.field("item_idx").type == pa.int32()
    seqs = pq.read_schema(out["sequences"])
    assert seqs.names == ["user_id", "item_seq", "timestamp_seq"]
    assert seqs.field("item_seq").type == pa.list_(pa.int32())
    assert seqs.field("timestamp_seq").type == pa.list_(pa.int64())
    meta_ = read_parquet_metadata(out["items"])
    assert meta_["domain"] == "R" and "versions" in meta_
    assert json.loads((tmp_path / "s.json").read_text())["users"] == stats["users"]
    assert [len(s) for s in load_sequences(out["sequences"])] == [5] * 7


def test_min_year_filter(small_domain):
    small_domain.min_year = 2020
    with pytest.raises(EmptyDomainError, match=r"domain 'R'.*'min_year'"):
        preprocess(small_domain, log=lambda m: None)


def test_kcore_that_empties_the_domain_names_domain_and_filter(small_domain):
    small_domain.kcore = 50
    with pytest.raises(
        EmptyDomainError, match=r"domain 'R': no interactions left after filter 'kcore'"
    ):
        preprocess(small_domain, log=lambda m: None)


def test_items_without_text_are_dropped(tmp_path):
    write_jsonl(tmp_path / "R.jsonl", [review(f"u{u}", "A", u) for u in range(3)], gz=False)
    write_jsonl(tmp_path / "meta_R.jsonl", [meta("A", "", features=[], description=[])], gz=False)
    spec = DomainSpec("R", str(tmp_path / "R.jsonl"), str(tmp_path / "meta_R.jsonl"), kcore=1)
    with pytest.raises(EmptyDomainError, match="'no_text'"):
        preprocess(spec, log=lambda m: None)


def test_malformed_json_names_file_and_line(tmp_path):
    path = write_jsonl(
        tmp_path / "R.jsonl.gz", [review("u", "A", 1), '{"user_id": "u", oops', review("u", "B", 2)]
    )
    with pytest.raises(InputError, match=r"R\.jsonl\.gz:2: malformed JSON"):
        read_interactions(path, FORMATS["amazon2023"])


def test_missing_required_field_names_line_and_field(tmp_path):
    bad = review("u", "A", 1)
    del bad["timestamp"]
    path = write_jsonl(tmp_path / "R.jsonl.gz", [review("u", "A", 1), review("u", "B", 2), bad])
    with pytest.raises(InputError, match=r":3: missing required field 'timestamp'"):
        read_interactions(path, FORMATS["amazon2023"])


def test_wrong_type_names_line(tmp_path):
    path = write_jsonl(
        tmp_path / "R.jsonl", [review("u", "A", 1), review("u", "B", "yesterday")], gz=False
    )
    with pytest.raises(InputError, match=r":2: field 'timestamp' must be int"):
        read_interactions(path, FORMATS["amazon2023"])


def test_truncated_gzip_is_reported(tmp_path):
    path = write_jsonl(tmp_path / "R.jsonl.gz", [review(f"u{i}", "A", i) for i in range(2000)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_interactions(path, FORMATS["amazon2023"])


def test_malformed_meta_names_file_and_line(tmp_path, small_domain):
    meta_path = Path(small_domain.meta)
    write_jsonl(meta_path, [meta("A"), "not json"])
    with pytest.raises(InputError, match=r"meta_R\.jsonl\.gz:2: malformed JSON"):
        preprocess(small_domain, log=lambda m: None)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="reviews file not found"):
        read_interactions(tmp_path / "nope.jsonl.gz", FORMATS["amazon2023"])


def test_amazon2018_layout_with_python_literal_meta(tmp_path):
    reviews = [
        {
            "reviewerID": f"U{u}",
            "asin": i,
            "unixReviewTime": 1_500_000_000 + 86400 * k,
            "overall": 5.0,
        }
        for u in range(3)
        for k, i in enumerate(["X1", "X2", "X3"])
    ]
    write_jsonl(tmp_path / "reviews.json.gz", reviews)
    write_jsonl(
        tmp_path / "meta.json.gz",
        [
            "{'asin': 'X1', 'title': 'Lamp', 'categories': [['Home', 'Lighting']], 'brand': 'Lux'}",
            {"asin": "X2", "title": "Desk", "description": "A desk", "feature": ["oak"]},
            {"asin": "X3", "title": "Chair", "category": ["Home"]},
        ],
    )
    spec = DomainSpec(
        "Old",
        str(tmp_path / "reviews.json.gz"),
        str(tmp_path / "meta.json.gz"),
        format="amazon2018",
        kcore=1,
        template="{title} | {brand} | {categories} | {features} | {description}",
    )
    domain = preprocess(spec, log=lambda m: None)
    texts = domain.items.column("text").to_pylist()
    assert texts[0] == "Lamp | Lux | Home Lighting | no feature provided | no description provided"
    assert texts[1] == "Desk | no brand provided | no category provided | oak | A desk"
    seqs = domain.sequences.column("timestamp_seq").to_pylist()
    assert seqs[0][0] == 1_500_000_000_000  # seconds -> milliseconds


def test_real_scientific_is_a_five_core(amazon):
    spec = DomainSpec(
        "Scientific", str(amazon / "Scientific.jsonl.gz"), str(amazon / "meta_Scientific.jsonl.gz")
    )
    domain = preprocess(spec, log=lambda m: None)
    seqs = domain.sequences.column("item_seq").to_pylist()
    counts = np.bincount(np.concatenate(seqs))
    assert min(len(s) for s in seqs) >= 5
    assert counts[1:].min() >= 5 and counts[0] == 0
    assert len(counts) - 1 == domain.stats["items"]
    assert all(len(set(s)) == len(s) for s in seqs)  # deduplicated
    times = domain.sequences.column("timestamp_seq").to_pylist()
    assert all(t == sorted(t) for t in times)


def test_every_2023_sample_category_reads(amazon2023_sample):
    names = sorted(
        p.name[: -len(".jsonl.gz")]
        for p in amazon2023_sample.glob("*.jsonl.gz")
        if not p.name.startswith("meta_")
    )
    assert len(names) >= 20
    for name in names:
        spec = DomainSpec(
            name,
            str(amazon2023_sample / f"{name}.jsonl.gz"),
            str(amazon2023_sample / f"meta_{name}.jsonl.gz"),
            kcore=1,
        )
        domain = preprocess(spec, log=lambda m: None)
        assert domain.stats["users"] >= 1 and domain.items.num_rows >= 1
