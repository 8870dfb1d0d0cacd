"""Embedding throughput and incremental-run cost of the embed stage, on real item texts.

    python bench/embed_bench.py                  # shared Scientific if present, else demo Gear
    python bench/embed_bench.py --data ../shared/data/amazon --domain Scientific \\
        --smollm2 resources/models/smollm2-135m-instruct

Throughput: items/s of encode_missing (our length-bucketed batches, cold cache) on a fixed random
sample of the domain's item texts, per encoder and batch size, after one warm-up batch, and of the
same encoder on the same texts in their catalogue order (unsorted batches).
Incremental: embed_items on the catalogue without 1% of its items (cold cache), then on the full
catalogue (only the 1% reach the encoder), then once more (nothing new). Model loading is timed
apart: it is paid once per job whatever the catalogue size. The default run uses batch 32 and the
first 1,000 items; RECG_BENCH_FULL=1 runs batch sizes 8 to 64, the whole catalogue and SmolLM2
(when converted). Results: results/bench/embed.json.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml
from harness import FULL, Bench, shared_data

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


def unsorted_throughput(encoder, texts: list[str], batch_size: int) -> float:
    """The same texts in catalogue order: each batch pads to its own longest text."""
    encoder.encode(texts[:batch_size])
    start = time.perf_counter()
    for lo in range(0, len(texts), batch_size):
        encoder.encode(texts[lo : lo + batch_size])
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
    amazon = shared_data("amazon", "meta_Scientific.jsonl.gz")
    parser.add_argument(
        "--data",
        default=str(amazon.parent) if amazon else None,
        help="folder with <domain>.jsonl.gz and meta_<domain>.jsonl.gz (default: the shared data)",
    )
    parser.add_argument("--domain", default="Scientific")
    have_llm = FULL and Path(SMOLLM2).is_dir()
    parser.add_argument("--smollm2", default=SMOLLM2 if have_llm else None)
    parser.add_argument("--encoders", nargs="*", help="subset of encoder labels to run")
    sizes = [8, 16, 32, 64] if FULL else [32]
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=sizes)
    parser.add_argument("--sample", type=int, default=256, help="texts per throughput run")
    parser.add_argument("--llm-sample", type=int, default=64, help="the same for SmolLM2")
    parser.add_argument(
        "--incremental-items", type=int, default=0 if FULL else 1000, help="0: whole catalogue"
    )
    parser.add_argument("--llm-incremental-items", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        domain, texts = item_texts(args, tmp)
        lengths = [len(t) for t in texts]
        bench = Bench(
            "embed",
            {"domain": domain, "items": len(texts), "mean_chars": float(np.mean(lengths))},
        )
        rng = np.random.default_rng(0)
        for label, settings in encoders(args.smollm2).items():
            if args.encoders and label not in args.encoders:
                continue
            start = time.perf_counter()
            encoder = load_encoder(settings)
            bench.figure(f"{label}_load_s", time.perf_counter() - start, "s")
            llm = settings.backend == "llm2vec"
            n = min(args.llm_sample if llm else args.sample, len(texts))
            sample = [texts[i] for i in rng.choice(len(texts), n, replace=False)]
            for batch_size in args.batch_sizes:
                name = f"{label}_batch{batch_size}"
                bucketed = bench.figure(
                    f"{name}_items_per_s", throughput(encoder, sample, batch_size, tmp), "items/s"
                )
                plain = bench.figure(
                    f"{name}_unsorted_items_per_s",
                    unsorted_throughput(encoder, sample, batch_size),
                    "items/s",
                )
                bench.figure(f"{name}_bucketing_speedup", bucketed["value"] / plain["value"], "x")
            limit = args.llm_incremental_items if llm else args.incremental_items
            subset = texts[:limit] if limit else texts
            inc = incremental(encoder, settings, subset, tmp / label, seed=1)
            bench.details[f"{label}_incremental"] = inc
            bench.figure(f"{label}_cold_run_s", inc["full_run_s"], "s")
            bench.figure(f"{label}_one_percent_new_s", inc["one_percent_new_s"], "s")
            bench.figure(f"{label}_rerun_s", inc["rerun_s"], "s")
            del encoder
    bench.write()


if __name__ == "__main__":
    sys.exit(main())
