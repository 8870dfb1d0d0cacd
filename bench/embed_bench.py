"""Embedding throughput and incremental-run cost of the embed stage, on real item texts.

    python bench/embed_bench.py                                   # demo domain Gear
    python bench/embed_bench.py --data ../shared/data/amazon --domain Scientific \\
        --smollm2 resources/models/smollm2-135m-instruct --out bench/embed_scientific.json

Throughput: items/s of encode_missing (our length-sorted batches, cold cache) on a fixed random
sample of the domain's item texts, per encoder and batch size, after one warm-up batch.
Incremental: embed_items on the catalogue without 1% of its items (cold cache), then on the full
catalogue (only the 1% reach the encoder), then once more (nothing new). Model loading is timed
apart: it is paid once per job whatever the catalogue size. Numbers are wall-clock on a shared
machine; the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml

from recg.data import DomainSpec, preprocess
from recg.embed import EmbeddingCache, EncoderSettings, embed_items, encode_missing, load_encoder
from recg.text import DEFAULT_TEMPLATE

REPO = Path(__file__).resolve().parents[1]
SMOLLM2 = "resources/models/smollm2-135m-instruct"


def profile(name: str) -> dict:
    """The encoder block of a shipped config/encoders/<name>.yaml: measure what users run."""
    return yaml.safe_load((REPO / "config" / "encoders" / f"{name}.yaml").read_text())["encoder"]


def encoders(smollm2: str | None) -> dict[str, EncoderSettings]:
    out = {"minilm": EncoderSettings.from_config(profile("minilm"))}
    if smollm2:
        llm = profile("smollm2-llm2vec") | {"model": smollm2}
        for dtype in ("float32", "bfloat16"):
            out[f"smollm2-llm2vec-{dtype}"] = EncoderSettings.from_config(llm | {"dtype": dtype})
    return out


def item_texts(args: argparse.Namespace, tmp: Path) -> tuple[str, list[str]]:
    if args.data:
        data = Path(args.data)
        reviews, meta = data / f"{args.domain}.jsonl.gz", data / f"meta_{args.domain}.jsonl.gz"
        name = args.domain
    else:
        from recg.demo import generate

        name = "Gear (demo)"
        reviews, meta = tmp / "Gear.jsonl.gz", tmp / "meta_Gear.jsonl.gz"
        generate("Gear", reviews, meta, users=600, seed=1)
    spec = DomainSpec(name=name, reviews=str(reviews), meta=str(meta), template=DEFAULT_TEMPLATE)
    return name, preprocess(spec, log=lambda m: None).items["text"].to_pylist()


def throughput(encoder, texts: list[str], batch_size: int, tmp: Path) -> float:
    encoder.encode(texts[:batch_size])  # warm-up: first-call allocations, kernel selection
    cache = EmbeddingCache(tempfile.mkdtemp(dir=tmp), "bench", encoder.dim)
    start = time.perf_counter()
    encode_missing(texts, encoder, cache, batch_size, log=io.StringIO())
    return len(texts) / (time.perf_counter() - start)


def write_items(path: Path, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    idx = pa.array(np.arange(1, len(texts) + 1), pa.int32())
    pq.write_table(pa.table({"item_idx": idx, "text": pa.array(texts, pa.string())}), path)
    return path


def incremental(encoder, settings, texts: list[str], tmp: Path, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    new = set(rng.choice(len(texts), max(1, len(texts) // 100), replace=False).tolist())
    old = [t for i, t in enumerate(texts) if i not in new]
    cache, quiet = tmp / "inc-cache", io.StringIO()
    timings = {"items": len(texts), "new_items": len(new)}
    for label, catalogue in (("full_run_s", old), ("one_percent_new_s", texts), ("rerun_s", texts)):
        items = write_items(tmp / label / "items.parquet", catalogue)
        start = time.perf_counter()
        embed_items(items, tmp / f"{label}.parquet", settings, cache, "t", encoder, log=quiet)
        timings[label] = time.perf_counter() - start
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder with <domain>.jsonl.gz and meta_<domain>.jsonl.gz")
    parser.add_argument("--domain", default="Scientific")
    parser.add_argument("--smollm2", default=SMOLLM2 if Path(SMOLLM2).is_dir() else None)
    parser.add_argument("--encoders", nargs="*", help="subset of encoder labels to run")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--sample", type=int, default=256, help="texts per throughput run")
    parser.add_argument("--llm-sample", type=int, default=64, help="the same for SmolLM2")
    parser.add_argument("--incremental-items", type=int, default=0, help="0: whole catalogue")
    parser.add_argument("--llm-incremental-items", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="write the results as JSON here too")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"torch {torch.__version__}, {args.threads} threads",
        "load_average_start": os.getloadavg()[0],
        "throughput": [],
        "incremental": {},
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        domain, texts = item_texts(args, tmp)
        lengths = [len(t) for t in texts]
        results["data"] = {"domain": domain, "items": len(texts), "mean_chars": np.mean(lengths)}
        print(f"{domain}: {len(texts)} item texts, mean {np.mean(lengths):.0f} characters")
        rng = np.random.default_rng(0)
        for label, settings in encoders(args.smollm2).items():
            if args.encoders and label not in args.encoders:
                continue
            start = time.perf_counter()
            encoder = load_encoder(settings)
            load_s = time.perf_counter() - start
            llm = settings.backend == "llm2vec"
            n = min(args.llm_sample if llm else args.sample, len(texts))
            sample = [texts[i] for i in rng.choice(len(texts), n, replace=False)]
            for batch_size in args.batch_sizes:
                rate = throughput(encoder, sample, batch_size, tmp)
                row = {"encoder": label, "batch_size": batch_size, "items_per_s": rate, "n": n}
                results["throughput"].append(row)
                print(f"{label:26s} batch {batch_size:3d}: {rate:7.2f} items/s ({n} texts)")
            limit = args.llm_incremental_items if llm else args.incremental_items
            subset = texts[:limit] if limit else texts
            inc = incremental(encoder, settings, subset, tmp / label, seed=1)
            results["incremental"][label] = {"load_s": load_s, **inc}
            print(
                f"{label:26s} load {load_s:.1f} s; {inc['items'] - inc['new_items']} items cold "
                f"{inc['full_run_s']:.1f} s; +{inc['new_items']} new (1%) "
                f"{inc['one_percent_new_s']:.2f} s; rerun {inc['rerun_s']:.2f} s"
            )
            del encoder
    results["load_average_end"] = os.getloadavg()[0]
    print(f"load average {results['load_average_start']:.1f} -> {results['load_average_end']:.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    sys.exit(main())
