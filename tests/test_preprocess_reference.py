"""The streaming preprocessor against a plain pandas reading of the same rules.

The streaming reader codes ids batch by batch and sorts without a file-order column; a simple
implementation that holds every line as a Python object must give the same tables.
"""

import gzip
import json
import random
from datetime import datetime, timezone

import pandas as pd
import pytest

import recg.data as data
from recg.data import DomainSpec, preprocess

USERS = ["a", "Z", "é", "ü1", "日本", "u🙂", "u10", "u2"] + [f"user{n}" for n in range(30)]
ITEMS = [f"B{n:03d}" for n in range(14)]
NO_TEXT = {"B003", "B007"}  # metadata with empty text fields
NO_META = {"B011"}
DAY_MS = 86_400_000


def _ms(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)


@pytest.fixture(scope="module")
def domain_files(tmp_path_factory):
    """Reviews with many timestamp ties and repeated (user, item) lines, across three years."""
    rng = random.Random(7)
    days = [_ms(2019) + DAY_MS * d for d in (0, 1, 2, 400, 401, 800)]
    lines = []
    for user in USERS:
        for _ in range(rng.randint(1, 12)):
            item = rng.choice(ITEMS)
            lines.append({"user_id": user, "parent_asin": item, "timestamp": rng.choice(days)})
            if rng.random() < 0.2:  # the same pair again, maybe at the same time
                lines.append({**lines[-1], "timestamp": rng.choice(days[:2])})
    rng.shuffle(lines)
    root = tmp_path_factory.mktemp("reference")
    reviews, meta = root / "R.jsonl.gz", root / "meta_R.jsonl.gz"
    with gzip.open(reviews, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps({**r, "rating": 5.0, "text": "x"}) + "\n" for r in lines)
    with gzip.open(meta, "wt", encoding="utf-8") as out:
        for item in ITEMS:
            if item not in NO_META:
                title = "" if item in NO_TEXT else f"Item {item}"
                record = {"parent_asin": item, "title": title, "features": [], "description": []}
                out.write(json.dumps(record) + "\n")
    return reviews, meta


def _reference(reviews, meta, k: int, min_year: int | None):
    """Sequences and item titles by the preprocessing rules, one pandas step per rule."""
    with gzip.open(reviews, "rt", encoding="utf-8") as handle:
        df = pd.DataFrame([json.loads(line) for line in handle])
    df = df.rename(columns={"user_id": "user", "parent_asin": "item", "timestamp": "time"})
    df["line"] = range(len(df))
    if min_year is not None:
        df = df[df.time >= _ms(min_year)]
    df = df.sort_values(["user", "item", "time", "line"]).drop_duplicates(["user", "item"])
    with gzip.open(meta, "rt", encoding="utf-8") as handle:
        titles = {r["parent_asin"]: r["title"] for r in map(json.loads, handle) if r["title"]}
    df = df[df.item.isin(titles)]
    while True:
        users = df.groupby("user").item.transform("size")
        items = df.groupby("item").user.transform("size")
        ok = (users >= k) & (items >= k)
        if ok.all():
            break
        df = df[ok]
    df = df[df.groupby("user").item.transform("size") >= data.MIN_SEQUENCE_LENGTH]
    item_idx = {item: n for n, item in enumerate(sorted(df.item.unique()), start=1)}
    sequences = []
    for user in sorted(df.user.unique()):
        rows = df[df.user == user].sort_values(["time", "line"])
        sequences.append(
            {
                "user_id": user,
                "item_seq": [item_idx[i] for i in rows.item],
                "timestamp_seq": rows.time.tolist(),
            }
        )
    items = [{"item_idx": n, "parent_asin": a, "title": titles[a]} for a, n in item_idx.items()]
    return items, sequences


# Small sizes make many batches, merge the codebooks after each one and split each read column
# into many blocks; the defaults read this file as one batch.
SMALL = {"BLOCK_BYTES": 512, "CODEBOOK_MERGE_BYTES": 0, "COLUMN_BLOCK_ROWS": 7}


@pytest.mark.parametrize("min_year", [None, 2020])
@pytest.mark.parametrize("sizes", [{}, SMALL], ids=["default", "small"])
def test_streaming_preprocess_matches_a_plain_reading(domain_files, monkeypatch, sizes, min_year):
    for name, value in sizes.items():
        monkeypatch.setattr(data, name, value)
    reviews, meta = domain_files
    spec = DomainSpec("R", str(reviews), str(meta), kcore=2, min_year=min_year)
    domain = preprocess(spec, log=lambda m: None)
    assert domain.stats["input"]["reviews"]["bad_lines"] == 0
    items, sequences = _reference(reviews, meta, 2, min_year)
    assert domain.items.select(["item_idx", "parent_asin", "title"]).to_pylist() == items
    assert domain.sequences.to_pylist() == sequences
    steps = {s["step"]: s for s in domain.stats["filters"]}
    assert steps["dedupe"]["removed_interactions"] > 0
    assert any(len(set(s["timestamp_seq"])) < len(s["timestamp_seq"]) for s in sequences)


def test_fast_reader_takes_the_synthetic_file(domain_files, monkeypatch):
    """The comparison above is about the streaming reader, not the line-by-line fallback."""
    monkeypatch.setattr(data, "BLOCK_BYTES", 512)
    reviews, _ = domain_files
    inter, total = data._read_fast(reviews, data.FORMATS["amazon2023"], None)
    assert len(inter) == total > 0
    assert sorted(set(inter.users.to_pylist())) == sorted(USERS)
