"""Training throughput, arithmetic and peak memory per backbone and variant, on Games.

Each (model, variant, hidden size, threads) runs in its own process so that its peak resident
memory is its own. The timed work is the trainer's own optimiser step (`Trainer.train_step`) on
batches in epoch order, with the project's default settings (TrainSettings defaults = the schema
defaults: max length 50, batch 128) at hidden 64 and 256, on 1 and 2 threads. A "sequence" is one
user's training window; all-position next-item training scores every position of it, cloze
training its masked positions. Per case it also records the floating-point operations of one step
(torch.utils.flop_counter), the fraction of the machine's measured float32 matmul rate that the
steps achieve, and a torch.profiler table of the operators where the time goes.

Data: Games sequences (real from the shared data, synthetic of Games' shape otherwise) and random
384-d item tables of Games, Scientific and Office sizes (throughput does not depend on the
values); or given files:

    python bench/train_bench.py [--hidden 64] [--threads 1 2] [--models gru4rec]
    python bench/train_bench.py \\
        --sequences results/data/Games/<data>/sequences.parquet \\
        --embeddings results/embeddings/minilm/Games/<encoding>.parquet \\
        --others results/embeddings/minilm/Scientific/<encoding>.parquet \\
                 results/embeddings/minilm/Office/<encoding>.parquet
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import FULL, Bench, games_sequences, peak_rss_mib

MODELS = ("gru4rec", "sasrec", "bert4rec")
VARIANTS = ("sem", "recg")
OTHER_ITEMS = {"Scientific": 4_385, "Office": 2_420}
TOP_OPS = 8


def matmul_rate(seconds: float = 0.5, n: int = 1024) -> float:
    """Float32 FLOP/s of square matmuls on this machine with the current torch threads."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        done += 1
    return done * 2 * n**3 / (time.perf_counter() - start)


def top_ops(trainer, batches) -> list[dict]:
    """The operators with the most self CPU time over `batches` steps."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for idx in batches:
            trainer.train_step(idx)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    return [
        {
            "op": e.key,
            "self_ms_per_step": e.self_cpu_time_total / 1000 / len(batches),
            "share": e.self_cpu_time_total / total,
            "calls_per_step": e.count / len(batches),
        }
        for e in events[:TOP_OPS]
    ]


def step_flops(trainer, idx) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        trainer.train_step(idx)
    return counter.get_total_flops()


def measure(args: argparse.Namespace) -> dict:
    """Time `args.batches` optimiser steps after `args.warmup` untimed ones, in this process."""
    import torch

    from recg.data import load_sequences
    from recg.embed import load_embeddings
    from recg.settings import TrainSettings
    from recg.trainer import Trainer

    def random_table(n_items: int) -> torch.Tensor:
        return torch.cat([torch.zeros(1, 384), torch.randn(n_items, 384)])

    torch.set_num_threads(args.threads[0])
    torch.manual_seed(0)
    sequences = load_sequences(args.sequences)
    if args.embeddings:
        table = torch.from_numpy(load_embeddings(args.embeddings))
        others = [torch.from_numpy(load_embeddings(p)) for p in args.others]
    else:
        table = random_table(args.items)
        others = [random_table(n) for n in OTHER_ITEMS.values()]
    overrides = json.loads(args.settings) | {"hidden": args.hidden[0]}
    settings = TrainSettings(
        model=args.model, variant=args.variant, device=args.device, **overrides
    )
    uses_others = settings.variant_parts.generalisation
    trainer = Trainer(settings, table, sequences, others if uses_others else [], log=lambda _: None)
    rss_setup = peak_rss_mib()
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.model.train()
    batches = trainer.batches()
    needed = args.warmup + args.batches
    if len(batches) < needed:
        raise SystemExit(f"only {len(batches)} batches per epoch; ask for fewer")
    for idx in batches[: args.warmup]:
        trainer.train_step(idx)
    timed = batches[args.warmup : needed]
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for idx in timed:
        trainer.train_step(idx)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    flops = step_flops(trainer, timed[0])
    profiled = top_ops(trainer, timed[: args.profile_batches])
    rate = matmul_rate()
    n_seq = sum(len(idx) for idx in timed)
    targets = int(sum((trainer.targets[idx] > 0).sum() for idx in timed))
    validate_s = None
    if args.validate:
        start = time.perf_counter()
        trainer.validate()
        validate_s = time.perf_counter() - start
    return {
        "model": args.model,
        "variant": args.variant,
        "hidden": settings.hidden,
        "device": str(trainer.device),
        "threads": args.threads[0],
        "sequences_per_s": n_seq / seconds,
        "ms_per_batch": 1000 * seconds / len(timed),
        "train_windows": len(trainer.inputs),
        "epoch_estimate_s": len(trainer.inputs) * seconds / n_seq,
        "next_item_targets_per_s": targets / seconds
        if trainer.model.objective.name == "next_item"
        else None,
        "validate_s": validate_s,
        "validation_users": len(trainer.val_sequences),
        "flops_per_step": flops,
        "matmul_flops_per_s": rate,
        "achieved_fraction": flops * len(timed) / seconds / rate,
        "top_ops": profiled,
        "peak_rss_mib": peak_rss_mib(),
        "rss_after_setup_mib": rss_setup,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20
        if trainer.device.type == "cuda"
        else None,
    }


def _markdown(rows: list[dict]) -> str:
    head = (
        "| model | variant | hidden | threads | seq/s | ms/batch | GFLOP/step | of matmul rate "
        "| epoch (s, est.) | validation (s) | peak RSS (MiB) | top op |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        top = r["top_ops"][0]
        validate = "–" if r["validate_s"] is None else f"{r['validate_s']:.1f}"
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['hidden']} | {r['threads']} | "
            f"{r['sequences_per_s']:.0f} | {r['ms_per_batch']:.0f} | "
            f"{r['flops_per_step'] / 1e9:.2f} | {r['achieved_fraction']:.1%} | "
            f"{r['epoch_estimate_s']:.0f} | {validate} | {r['peak_rss_mib']:.0f} | "
            f"{top['op']} ({top['share']:.0%}) |"
        )
    return "\n".join(lines)


def _child(args: argparse.Namespace, case: dict) -> list[str]:
    data = ["--sequences", str(args.sequences), "--items", str(args.items)]
    if args.embeddings:
        data += ["--embeddings", str(args.embeddings), "--others", *map(str, args.others)]
    return [
        sys.executable,
        __file__,
        *data,
        *("--batches", str(args.batches), "--warmup", str(args.warmup)),
        *("--profile-batches", str(args.profile_batches), "--validate", str(args.validate)),
        *("--device", args.device, "--settings", args.settings),
        *("--model", case["model"], "--variant", case["variant"]),
        *("--hidden", str(case["hidden"]), "--threads", str(case["threads"])),
    ]


def _run(args: argparse.Namespace, bench: Bench) -> None:
    rows = []
    for model in args.models:
        for variant in args.variants:
            for hidden in args.hidden:
                for threads in args.threads:
                    case = {"model": model, "variant": variant, "hidden": hidden}
                    out = subprocess.run(
                        _child(args, case | {"threads": threads}), capture_output=True, text=True
                    )
                    if out.returncode:
                        raise SystemExit(f"{case} failed:\n{out.stderr[-3000:]}")
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    rows.append(row)
                    name = f"{model}_{variant}_h{hidden}_t{threads}"
                    bench.figure(f"{name}_sequences_per_s", row["sequences_per_s"], "seq/s")
                    bench.figure(f"{name}_gflop_per_step", row["flops_per_step"] / 1e9, "GFLOP")
                    bench.figure(f"{name}_matmul_fraction", row["achieved_fraction"], "fraction")
                    bench.figure(f"{name}_peak_rss_mib", row["peak_rss_mib"], "MiB")
    bench.details["rows"] = rows
    print(_markdown(rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=Path, help="sequences.parquet (default: Games)")
    parser.add_argument("--embeddings", type=Path, help="its item embeddings (default: random)")
    parser.add_argument("--others", type=Path, nargs="*", default=[])
    parser.add_argument("--items", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, default=40 if FULL else 10)
    parser.add_argument("--warmup", type=int, default=5 if FULL else 2)
    parser.add_argument("--profile-batches", type=int, default=5 if FULL else 2)
    parser.add_argument(
        "--validate", type=int, default=int(FULL), help="1: also time one validation pass"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", default="{}", help="JSON overrides of TrainSettings")
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.model:  # the child process: one measurement, printed as JSON
        print(json.dumps(measure(args)))
        return
    if args.profile_batches > args.batches:
        parser.error("--profile-batches must not exceed --batches")
    if args.sequences:
        bench = Bench("train", {"sequences": str(args.sequences), "embeddings": "given"})
        _run(args, bench)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        label, sequences, args.items = games_sequences()
        data = {"sequences": label, "users": len(sequences), "items": args.items}
        bench = Bench("train", data | {"embeddings": "random 384-d, Games/Scientific/Office sizes"})
        with tempfile.TemporaryDirectory() as tmp:
            args.sequences = Path(tmp) / "sequences.parquet"
            column = pa.array([s.tolist() for s in sequences], pa.list_(pa.int64()))
            pq.write_table(pa.table({"item_seq": column}), args.sequences)
            _run(args, bench)
    bench.write()


if __name__ == "__main__":
    main()
