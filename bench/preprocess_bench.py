"""Preprocessing throughput and peak memory at 1x, 5x and 20x Games, against a plain reference.

Each size is Games with more users: the real Games reviews (from the shared data) copied with
renamed users, or, without the shared data, synthetic users of Games' shape (50,546 users of 5+
reviews, 16,859 items, Amazon-2023 layout). The real preprocessing and a straightforward reference
(`json.loads` per line into pandas, dedupe, text filter, iterative 5-core, sequences) run on the
same files, each in a fresh process so that its peak resident memory is its own.

Targets: at least 5x the reference's reviews/s at every size; peak RSS above the process after its
imports within 64 bytes per review (at 20x that is under 1.5 GB). Each is run three times
(--repeats), alternating; the fastest time counts, with the highest peak of the three.

    python bench/preprocess_bench.py [--scales 1 5]      # RECG_BENCH_FULL=1: 1, 5 and 20
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from harness import FULL, Bench, peak_rss_mib, shared_data

GAMES_USERS, GAMES_ITEMS = 50_546, 16_859
BYTES_PER_REVIEW = 64


def write_synthetic(folder: Path, scale: int, seed: int = 0) -> tuple[Path, Path]:
    """Games-shaped synthetic users: 5 + geometric reviews each (mean about 9), Zipf items."""
    rng = np.random.default_rng(seed)
    reviews, meta = folder / "Bench.jsonl.gz", folder / "meta_Bench.jsonl.gz"
    with gzip.open(reviews, "wt", compresslevel=1) as handle:
        for user in range(GAMES_USERS * scale):
            n = 4 + int(rng.geometric(0.2))
            items = np.minimum(rng.zipf(1.3, n), GAMES_ITEMS) - 1
            for k, item in enumerate(items):
                record = {
                    "rating": 5.0,
                    "title": "Great",
                    "text": "Works as described, would buy again. " * 3,
                    "asin": f"B{item:09d}",
                    "parent_asin": f"B{item:09d}",
                    "user_id": f"AG{user:026d}",
                    "timestamp": 1_500_000_000_000 + (user % 1000) * 10**6 + k * 1000,
                    "helpful_vote": 0,
                    "verified_purchase": True,
                }
                handle.write(json.dumps(record) + "\n")
    with gzip.open(meta, "wt", compresslevel=1) as handle:
        for i in range(GAMES_ITEMS):
            record = {
                "parent_asin": f"B{i:09d}",
                "title": f"Product {i}",
                "features": ["durable", "light"],
                "description": ["A fine product."],
            }
            handle.write(json.dumps(record) + "\n")
    return reviews, meta


def write_copies(folder: Path, games: Path, scale: int) -> tuple[Path, Path]:
    """The real Games reviews `scale` times, each copy's users renamed: Games with more users."""
    reviews = folder / "Bench.jsonl.gz"
    with gzip.open(games / "Games.jsonl.gz", "rt") as src:
        lines = src.readlines()
    with gzip.open(reviews, "wt", compresslevel=1) as handle:
        for copy in range(scale):
            for line in lines:
                record = json.loads(line)
                record["user_id"] = f"{record['user_id']}~{copy}"
                handle.write(json.dumps(record) + "\n")
    return reviews, games / "meta_Games.jsonl.gz"


def reference(reviews: Path, meta: Path, k: int = 5) -> tuple[int, int]:
    """What a first version would do: one dict per line, pandas for the rest."""
    import pandas as pd

    rows = []
    with gzip.open(reviews, "rt") as handle:
        for line in handle:
            r = json.loads(line)
            rows.append((r["user_id"], r["parent_asin"], r["timestamp"]))
    frame = pd.DataFrame(rows, columns=["user", "item", "time"])
    del rows
    frame = frame.sort_values("time", kind="stable").drop_duplicates(["user", "item"])
    reviewed, with_text = set(frame["item"]), set()
    with gzip.open(meta, "rt") as handle:
        for line in handle:
            r = json.loads(line)
            if r["parent_asin"] in reviewed and (
                r.get("title") or r.get("features") or r.get("description")
            ):
                with_text.add(r["parent_asin"])
    frame = frame[frame["item"].isin(with_text)]
    while True:
        users = frame.groupby("user")["item"].transform("size")
        items = frame.groupby("item")["user"].transform("size")
        keep = (users >= k) & (items >= k)
        if keep.all():
            break
        frame = frame[keep]
    sequences = frame.sort_values(["user", "time"], kind="stable").groupby("user")["item"].agg(list)
    return len(frame), len(sequences)


def measure(impl: str, reviews: Path, meta: Path) -> dict:
    """One run in this (fresh) process: seconds and peak RSS above the process after imports."""
    import pandas  # noqa: F401  (both implementations' libraries count as start-up)

    from recg.data import DomainSpec, preprocess

    base = peak_rss_mib()
    start = time.perf_counter()
    if impl == "recg":
        domain = preprocess(DomainSpec("Bench", str(reviews), str(meta)), log=lambda m: None)
        kept = domain.stats["interactions"]
    else:
        kept, _ = reference(reviews, meta)
    return {
        "seconds": time.perf_counter() - start,
        "kept_interactions": kept,
        "base_rss_mib": base,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_child(impl: str, reviews: Path, meta: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", impl, str(reviews), str(meta)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        return {"error": f"exit {out.returncode}: {out.stderr.strip()[-500:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def count_lines(path: Path) -> int:
    with gzip.open(path, "rb") as handle:
        return sum(1 for _ in handle)


def best(runs: list[dict]) -> dict:
    """The fastest run's time with the highest peak memory of all (a failed run wins)."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    fastest = min(runs, key=lambda r: r["seconds"])
    return fastest | {"peak_rss_mib": max(r["peak_rss_mib"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 5, 20] if FULL else [1])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return
    games = shared_data("amazon", "Games.jsonl.gz")
    source = "real Games, users copied" if games else "synthetic Games-shaped users"
    bench = Bench("preprocess", {"input": source, "scales": args.scales})
    bench.details["runs"] = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.scales:
            folder = Path(tmp) / f"{scale}x"
            folder.mkdir()
            if games:
                reviews, meta = write_copies(folder, games.parent, scale)
            else:
                reviews, meta = write_synthetic(folder, scale)
            n = count_lines(reviews)
            runs = [
                (run_child("recg", reviews, meta), run_child("reference", reviews, meta))
                for _ in range(args.repeats)
            ]
            ours, ref = best([r[0] for r in runs]), best([r[1] for r in runs])
            bench.details["runs"].append(
                {"scale": scale, "reviews": n, "recg": ours, "ref": ref, "all": runs}
            )
            reviews.unlink()
            if "error" in ours:
                raise SystemExit(f"preprocessing failed at {scale}x: {ours['error']}")
            rate = n / ours["seconds"]
            bench.figure(f"reviews_per_s_{scale}x", rate, "reviews/s")
            ref_rate = None if "error" in ref else n / ref["seconds"]
            bench.figure(f"reference_reviews_per_s_{scale}x", ref_rate, "reviews/s")
            bench.figure(
                f"speedup_vs_reference_{scale}x",
                None if ref_rate is None else rate / ref_rate,
                "x",
                ">= 5",
                note=ref.get("error", ""),
            )
            above = (ours["peak_rss_mib"] - ours["base_rss_mib"]) * 2**20
            bench.figure(f"peak_rss_mib_{scale}x", ours["peak_rss_mib"], "MiB")
            bench.figure(
                f"rss_bytes_per_review_{scale}x", above / n, "bytes", f"<= {BYTES_PER_REVIEW}"
            )
            if "error" not in ref:
                bench.figure(f"reference_peak_rss_mib_{scale}x", ref["peak_rss_mib"], "MiB")
    bench.write()


if __name__ == "__main__":
    main()
