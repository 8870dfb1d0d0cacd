"""Preprocessing throughput and peak memory against input size.

Writes synthetic Amazon-2023-layout review files of growing size (realistic id lengths and
metadata) and runs the real preprocessing on each in a fresh process, reporting reviews per second
and peak resident memory. Memory should grow with the interaction arrays (a few tens of bytes per
review), not with the JSON text.

    python bench/preprocess_bench.py --sizes 250000 1000000 4000000 [--real ../shared/data/amazon]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_domain(folder: Path, n_reviews: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    n_users, n_items = max(n_reviews // 8, 1), max(n_reviews // 25, 1)
    users = rng.integers(0, n_users, n_reviews)
    items = np.minimum(rng.zipf(1.3, n_reviews), n_items) - 1
    reviews, meta = folder / "Bench.jsonl.gz", folder / "meta_Bench.jsonl.gz"
    with gzip.open(reviews, "wt", compresslevel=1) as handle:
        for k in range(n_reviews):
            record = {
                "rating": 5.0,
                "title": "Great",
                "text": "Works as described, would buy again. " * 3,
                "asin": f"B{items[k]:09d}",
                "parent_asin": f"B{items[k]:09d}",
                "user_id": f"AG{users[k]:026d}",
                "timestamp": 1_500_000_000_000 + int(k) * 1000,
                "helpful_vote": 0,
                "verified_purchase": True,
            }
            handle.write(json.dumps(record) + "\n")
    with gzip.open(meta, "wt", compresslevel=1) as handle:
        for i in range(n_items):
            record = {
                "parent_asin": f"B{i:09d}",
                "title": f"Product {i}",
                "features": ["durable", "light"],
                "description": ["A fine product."],
            }
            handle.write(json.dumps(record) + "\n")
    return reviews, meta


def measure(reviews: Path, meta: Path, fmt: str = "amazon2023") -> dict:
    """Run preprocessing in this process; print a JSON line with timing and peak memory."""
    from recg.data import DomainSpec, preprocess

    start = time.perf_counter()
    domain = preprocess(
        DomainSpec("Bench", str(reviews), str(meta), format=fmt), log=lambda m: None
    )
    seconds = time.perf_counter() - start
    raw = domain.stats["filters"][0]["interactions"]
    return {
        "reviews": raw,
        "seconds": round(seconds, 2),
        "reviews_per_s": round(raw / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "kept_interactions": domain.stats["interactions"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[250_000, 1_000_000, 4_000_000])
    parser.add_argument("--real", type=Path, help="folder with real {Name}.jsonl.gz files")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), Path(args.child[1]))))
        return
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            folder = Path(tmp) / str(size)
            folder.mkdir()
            reviews, meta = write_domain(folder, size)
            runs.append(("synthetic", reviews, meta))
        if args.real:
            for name in ("Scientific", "Office", "Games"):
                runs.append(
                    (name, args.real / f"{name}.jsonl.gz", args.real / f"meta_{name}.jsonl.gz")
                )
        print(
            f"{'input':<12}{'reviews':>10}{'seconds':>9}{'reviews/s':>12}{'peak RSS MB':>13}{'MB/1M rev':>11}"
        )
        for label, reviews, meta in runs:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(reviews), str(meta)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            per_million = r["peak_rss_mb"] / (r["reviews"] / 1e6)
            print(
                f"{label:<12}{r['reviews']:>10,}{r['seconds']:>9}{r['reviews_per_s']:>12,}"
                f"{r['peak_rss_mb']:>13}{per_million:>11.0f}"
            )


if __name__ == "__main__":
    main()
