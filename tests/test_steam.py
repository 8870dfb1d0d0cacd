"""The `steam` format: Kang & McAuley's steam_reviews.json.gz and steam_games.json.gz (Version 2
of the UCSD Steam data), one Python literal per line. Fixtures mimic that layout."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path

import pytest

from recg.data import FORMATS, DomainSpec, preprocess, read_interactions
from recg.errors import InputError

GAMES = {
    "761140": ("Lost Summoner Kitty", ["Action", "Casual", "Indie"], ["Strategy", "Indie"]),
    "643980": ("Ironbound", ["Free to Play", "Strategy"], ["Card Game", "Trading Card Game"]),
    "670290": ("Real Pool 3D - Poolians", ["Casual", "Sports"], ["Simulation", "Pool"]),
    "767400": ("弹炸人2222", ["Action", "Adventure"], ["Action", "Adventure"]),
}


def steam_review(user: str, product: str, day: str, **extra) -> dict:
    record = {
        "username": user,
        "hours": 0.1,
        "products": 41,
        "product_id": product,
        "page_order": 0,
        "date": day,
        "text": "Great game, would 'play' again",
        "early_access": False,
        "page": 1,
    }
    return {**record, **extra}


def steam_game(app_id: str, name: str, genres: list, tags: list, **extra) -> dict:
    return {
        "publisher": "Kotoshiro",
        "genres": genres,
        "app_name": name,
        "title": name,
        "url": f"http://store.steampowered.com/app/{app_id}/",
        "release_date": "2018-01-04",
        "tags": tags,
        "discount_price": 4.49,
        "reviews_url": f"http://steamcommunity.com/app/{app_id}/reviews/?browsefilter=mostrecent&p=1",
        "specs": ["Single-player"],
        "price": 4.99,
        "early_access": False,
        "id": app_id,
        "developer": "Kotoshiro",
        "sentiment": "Mostly Positive",
        "metascore": 76,
        **extra,
    }


def write_literals(path: Path, records: list) -> Path:
    """repr() per line, as the distributed files are (single quotes, True/False)."""
    text = "".join((r if isinstance(r, str) else repr(r)) + "\n" for r in records)
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    return path


def reviews_fixture() -> list:
    users = ["Chaos Syren", "freakfantom", "Ariman1", "The_Cpt_FROGGY", "hello?<"]
    records = []
    for u, user in enumerate(users):
        for k, app in enumerate(GAMES):
            records.append(steam_review(user, app, f"2017-12-{10 + k + u:02d}"))
    records[0]["user_id"] = "76561198007483075"
    records[1]["found_funny"] = 2
    records[2]["compensation"] = "Product received for free"
    return records


def games_fixture() -> list:
    games = [steam_game(app, *fields) for app, fields in GAMES.items()]
    no_id = steam_game("0", "Orphan", ["Indie"], ["Indie"])
    del no_id["id"]
    bare = {"url": "http://store.steampowered.com/app/1/", "app_name": "Bare"}
    duplicate = steam_game("761140", "Lost Summoner Kitty (again)", [], [])
    return [*games, no_id, bare, duplicate]


@pytest.fixture
def steam(tmp_path) -> DomainSpec:
    return DomainSpec(
        "Steam",
        str(write_literals(tmp_path / "steam_reviews.json.gz", reviews_fixture())),
        str(write_literals(tmp_path / "steam_games.json.gz", games_fixture())),
        format="steam",
        kcore=1,
    )


def test_steam_reviews_and_games_become_a_domain(steam):
    log = []
    domain = preprocess(steam, log.append)
    assert domain.stats["users"] == 5 and domain.stats["items"] == 4
    items = {r["parent_asin"]: r for r in domain.items.to_pylist()}
    kitty = items["761140"]
    assert kitty["title"] == "Lost Summoner Kitty"
    # genres, tags and specs joined, a genre repeated among the tags once
    assert "Feature: Action, Casual, Indie, Strategy, Single-player." in kitty["text"]
    assert kitty["text"].endswith("Description: no description provided")
    assert items["767400"]["title"] == "弹炸人2222"
    meta = domain.stats["input"]["meta"]
    assert meta["lines_without_id"] == 2 and meta["first_lines_without_id"] == [5, 6]
    assert meta["duplicate_lines"] == 1 and meta["unreviewed_items"] == 0
    assert any("lines without an item id (skipped): 2" in m for m in log)


def test_steam_dates_are_midnight_utc_and_order_sequences(steam):
    domain = preprocess(steam, lambda m: None)
    seqs = {r["user_id"]: r for r in domain.sequences.to_pylist()}
    first = seqs["Chaos Syren"]["timestamp_seq"][0]
    assert first == int(datetime(2017, 12, 10, tzinfo=timezone.utc).timestamp() * 1000)
    assert all(t == sorted(t) for t in (s["timestamp_seq"] for s in seqs.values()))


def test_same_day_reviews_keep_file_order(tmp_path, steam):
    records = [steam_review("u", app, "2017-12-24") for app in reversed(list(GAMES))]
    write_literals(Path(steam.reviews), records)
    domain = preprocess(steam, lambda m: None)
    order = {r["item_idx"]: r["parent_asin"] for r in domain.items.to_pylist()}
    seq = domain.sequences.to_pylist()[0]["item_seq"]
    assert [order[i] for i in seq] == list(reversed(list(GAMES)))


def test_min_year_applies_to_steam_dates(steam):
    records = reviews_fixture()
    for record in records[:4]:
        record["date"] = "2018-01-02"
    write_literals(Path(steam.reviews), records)
    inter, report = read_interactions(
        steam.reviews,
        FORMATS["steam"],
        min_time_ms=int(datetime(2018, 1, 1, tzinfo=timezone.utc).timestamp() * 1000),
    )
    assert len(inter) == 4 and report["lines"] == 20


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.pop("date"), r":3: missing required field 'date'"),
        (
            lambda r: r.update(date="Posted April 21, 2011"),
            r":3: field 'date' must be a 'YYYY-MM-DD'",
        ),
        (lambda r: r.update(date=20171212), r":3: field 'date' must be a 'YYYY-MM-DD'"),
        (lambda r: r.pop("username"), r":3: missing required field 'username'"),
        (lambda r: r.update(product_id=761140), r":3: field 'product_id' must be str, got int"),
    ],
)
def test_bad_steam_review_names_file_and_line(steam, edit, message):
    records = reviews_fixture()
    edit(records[2])
    write_literals(Path(steam.reviews), records)
    with pytest.raises(InputError, match=rf"steam_reviews\.json\.gz{message}"):
        preprocess(steam, lambda m: None)


def test_malformed_steam_literal_names_file_and_line(steam):
    records = reviews_fixture()
    records[6] = "{'username': 'x', 'product_id': '761140', 'date': '2017-12-"
    write_literals(Path(steam.reviews), records)
    with pytest.raises(
        InputError, match=r"steam_reviews\.json\.gz:7: malformed JSON.*Python literal"
    ):
        preprocess(steam, lambda m: None)


def test_code_in_a_steam_line_is_not_run(steam, tmp_path):
    marker = tmp_path / "ran"
    records = reviews_fixture()
    records[0] = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    write_literals(Path(steam.reviews), records)
    with pytest.raises(InputError, match=r":1: malformed JSON"):
        preprocess(steam, lambda m: None)
    assert not marker.exists()


def test_bad_steam_lines_can_be_tolerated(steam):
    records = reviews_fixture()
    records[3] = "garbage"
    records[8].pop("date")
    write_literals(Path(steam.reviews), records)
    steam.max_bad_lines = 2
    domain = preprocess(steam, lambda m: None)
    assert domain.stats["input"]["reviews"] == {
        "lines": 20,
        "bad_lines": 2,
        "first_bad_lines": [4, 9],
    }


def test_json_lines_in_steam_layout_read_too(steam):
    import json

    text = "".join(json.dumps(r) + "\n" for r in reviews_fixture())
    Path(steam.reviews).write_bytes(gzip.compress(text.encode()))
    assert preprocess(steam, lambda m: None).stats["interactions"] == 20


# ------------------------------------------------------------------ the paper profile (with Steam)

PAPER = Path(__file__).parents[1] / "config" / "experiments" / "paper.yaml"
PAPER_ENCODER = PAPER.parents[1] / "encoders" / "paper-llm2vec-llama3.yaml"


def paper_fixture(workdir: Path) -> None:
    """Tiny files at every path the paper profile names."""
    import json

    import yaml

    domains = yaml.safe_load(PAPER.read_text())["domains"]
    for name, spec in domains.items():
        reviews, meta = workdir / spec["reviews"], workdir / spec["meta"]
        reviews.parent.mkdir(parents=True, exist_ok=True)
        if spec["format"] == "steam":
            write_literals(reviews, reviews_fixture())
            write_literals(meta, games_fixture())
            continue
        items = [f"{name[:3]}{i}" for i in range(6)]
        lines = [
            {"user_id": f"u{u}", "parent_asin": item, "timestamp": 1_600_000_000_000 + k}
            for u in range(6)
            for k, item in enumerate(items)
        ]
        records = [{"parent_asin": i, "title": f"{name} {i}", "features": ["x"]} for i in items]
        for path, rows in ((reviews, lines), (meta, records)):
            text = "".join(json.dumps(r) + "\n" for r in rows)
            path.write_bytes(gzip.compress(text.encode()))


@pytest.mark.integration
@pytest.mark.parametrize("layers", [[PAPER], [PAPER, PAPER_ENCODER]], ids=["minilm", "llm2vec"])
def test_paper_profile_dry_runs_and_lints(tmp_path, layers):
    from conftest import job_counts, run_snakemake

    paper_fixture(tmp_path)
    files = [str(p) for p in layers]
    out = run_snakemake(tmp_path, "-n", "--quiet", "rules", "--configfile", *files).stdout
    jobs = job_counts(out)
    assert jobs["preprocess"] == 4
    assert jobs["train"] == 4 * 3 * 2 * 5
    run_snakemake(tmp_path, "--lint", "--configfile", *files)
