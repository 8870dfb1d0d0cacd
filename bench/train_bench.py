"""Training throughput and peak memory per backbone and variant, on one domain (e.g. Games).

Each (model, variant) runs in its own process so that its peak resident memory is its own. The
timed work is the trainer's own optimiser step (`Trainer.train_step`) on batches in epoch order,
with the project's default settings (TrainSettings defaults = the schema defaults) unless
overridden. A "sequence" is one user's training window; all-position next-item training scores
every position of it, cloze training its masked positions.

    python bench/train_bench.py \\
        --sequences results/data/Games/sequences.parquet \\
        --embeddings results/embeddings/minilm/Games.parquet \\
        --others results/embeddings/minilm/Scientific.parquet results/embeddings/minilm/Office.parquet
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

MODELS = ("gru4rec", "sasrec", "bert4rec")
VARIANTS = ("sem", "recg")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(args: argparse.Namespace) -> dict:
    """Time `args.batches` optimiser steps after `args.warmup` untimed ones, in this process."""
    import torch

    from recg.data import load_sequences
    from recg.embed import load_embeddings
    from recg.train import Trainer, TrainSettings

    torch.set_num_threads(args.threads)
    sequences = load_sequences(args.sequences)
    table = torch.from_numpy(load_embeddings(args.embeddings))
    others = [torch.from_numpy(load_embeddings(p)) for p in args.others]
    settings = TrainSettings(
        model=args.model, variant=args.variant, device=args.device, **json.loads(args.settings)
    )
    uses_others = settings.variant_parts.generalisation
    trainer = Trainer(settings, table, sequences, others if uses_others else [], log=lambda _: None)
    rss_setup = _rss_mib()
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
    n_seq = sum(len(idx) for idx in timed)
    targets = int(sum((trainer.targets[idx] > 0).sum() for idx in timed))
    start = time.perf_counter()
    trainer.validate()
    validate_s = time.perf_counter() - start
    return {
        "model": args.model,
        "variant": args.variant,
        "device": str(trainer.device),
        "threads": args.threads,
        "sequences_per_s": n_seq / seconds,
        "ms_per_batch": 1000 * seconds / len(timed),
        "train_windows": len(trainer.inputs),
        "epoch_estimate_s": len(trainer.inputs) * seconds / n_seq,
        "next_item_targets_per_s": targets / seconds if not trainer.model.backbone.cloze else None,
        "validate_s": validate_s,
        "validation_users": len(trainer.val_sequences),
        "peak_rss_mib": _rss_mib(),
        "rss_after_setup_mib": rss_setup,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20
        if trainer.device.type == "cuda"
        else None,
    }


def _markdown(rows: list[dict]) -> str:
    head = (
        "| model | variant | seq/s | ms/batch | epoch (s, est.) | validation (s) "
        "| peak RSS (MiB) | RSS after setup (MiB) |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['sequences_per_s']:.0f} | "
            f"{r['ms_per_batch']:.0f} | {r['epoch_estimate_s']:.0f} | {r['validate_s']:.1f} | "
            f"{r['peak_rss_mib']:.0f} | {r['rss_after_setup_mib']:.0f} |"
        )
    return "\n".join(lines)


def _child(args: argparse.Namespace, model: str, variant: str) -> list[str]:
    return [
        sys.executable,
        __file__,
        *("--sequences", str(args.sequences), "--embeddings", str(args.embeddings)),
        *("--others", *map(str, args.others)),
        *("--batches", str(args.batches), "--warmup", str(args.warmup)),
        *("--threads", str(args.threads), "--device", args.device, "--settings", args.settings),
        *("--model", model, "--variant", variant),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=Path, required=True)
    parser.add_argument("--embeddings", type=Path, required=True)
    parser.add_argument("--others", type=Path, nargs="*", default=[])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", default="{}", help="JSON overrides of TrainSettings")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.model:  # the child process: one measurement, printed as JSON
        print(json.dumps(measure(args)))
        return
    rows = []
    for model in args.models:
        for variant in args.variants:
            out = subprocess.run(_child(args, model, variant), capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{model}-{variant} failed:\n{out.stderr[-3000:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(_markdown(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
