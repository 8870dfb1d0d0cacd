"""Evaluation time for all Games users under both protocols, per backbone.

Ranks every Games user (real sequences from the shared data, synthetic ones of Games' size
otherwise) with a -Sem model over random 384-d item embeddings (the metric code does not care what
the weights are): drawing the sampled protocol's 100 negatives, encoding the users, full ranking
and sampled ranking, each timed apart.

Targets (2 threads): uni100, negatives included, under 1.5 s; full ranking under 6 s. Each step
counts its best of three passes (--repeats).

The large case (RECG_BENCH_FULL=1, or --large-users/--large-items) is a synthetic target domain
of 1M users and 100K items, GRU4Rec: its time and the process's peak memory, which chunking
bounds (its score matrix alone would be users x items x 4 bytes, 400 GB). No target.

    python bench/evaluate_bench.py [--models gru4rec] [--threads 2]
    RECG_BENCH_FULL=1 python bench/evaluate_bench.py     # also the 1M-user, 100K-item domain
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from harness import FULL, Bench, games_sequences, peak_rss_mib

from recg.models import build_model
from recg.negatives import sample_eval_negatives
from recg.ranking import rank_full, rank_sampled, split_user_vectors

MODELS = ("gru4rec", "sasrec", "bert4rec")


def timings(model_name: str, sequences: list, n_items: int, repeats: int) -> dict[str, float]:
    """Each step's best time over `repeats` passes (all passes in `runs`): on a shared or
    virtual machine the best is the figure least disturbed by others."""
    torch.manual_seed(0)
    model = build_model(model_name, llm_dim=384, hidden=64, max_len=50, dropout=0.0)
    model.items.set_table(torch.cat([torch.zeros(1, 384), torch.randn(n_items, 384)]))
    runs = []
    for _ in range(repeats):
        run = {}
        start = time.perf_counter()
        negatives = sample_eval_negatives(sequences, n_items, 100, seed=1)
        run["draw_negatives_s"] = time.perf_counter() - start
        start = time.perf_counter()
        users = split_user_vectors(model, sequences, "test")
        run["encode_users_s"] = time.perf_counter() - start
        start = time.perf_counter()
        rank_full(model, sequences, "test", users=users)
        run["rank_full_s"] = time.perf_counter() - start
        start = time.perf_counter()
        rank_sampled(model, sequences, negatives, users=users)
        run["rank_uni100_s"] = time.perf_counter() - start
        runs.append(run)
    return {step: min(run[step] for run in runs) for step in runs[0]} | {"runs": runs}


def protocol_seconds(t: dict[str, float]) -> tuple[float, float]:
    """uni100 (negatives drawn, users encoded, sampled ranking) and full (encoded, ranked)."""
    uni = t["draw_negatives_s"] + t["encode_users_s"] + t["rank_uni100_s"]
    return uni, t["encode_users_s"] + t["rank_full_s"]


def synthetic_sequences(users: int, items: int, seed: int = 0) -> list[np.ndarray]:
    """Distinct items per user (4 to 200 of them, Games-like lengths): a random start and random
    steps of at most 400 never wrap past the catalogue's 100K items."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(4 + rng.geometric(0.2, users), 200)
    steps = rng.integers(1, min(400, items // 200) + 1, int(lengths.sum()))
    starts = np.repeat(rng.integers(0, items, users), lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    walk = np.cumsum(steps)
    walk -= np.repeat(walk[offsets[:-1]] - steps[offsets[:-1]], lengths)
    values = (starts + walk) % items + 1
    return np.split(values, offsets[1:-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="passes per model (best counts)")
    parser.add_argument("--large-users", type=int, default=1_000_000 if FULL else 0)
    parser.add_argument("--large-items", type=int, default=100_000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    label, sequences, n_items = games_sequences()
    data = {"sequences": label, "users": len(sequences), "items": n_items}
    bench = Bench("evaluate", data)
    for model in args.models:
        t = timings(model, sequences, n_items, args.repeats)
        bench.details[model] = t
        uni, full = protocol_seconds(t)
        bench.figure(f"{model}_uni100_s", uni, "s", "< 1.5")
        bench.figure(f"{model}_full_s", full, "s", "< 6")
    if args.large_users:
        sequences = synthetic_sequences(args.large_users, args.large_items)
        large = {"sequences": "synthetic", "users": len(sequences), "items": args.large_items}
        bench.data["large"] = large
        t = timings("gru4rec", sequences, args.large_items, 1)
        bench.details["gru4rec_large"] = t
        uni, full = protocol_seconds(t)
        bench.figure("gru4rec_uni100_s_large", uni, "s")
        bench.figure("gru4rec_full_s_large", full, "s")
        bench.figure("peak_rss_mib_large", peak_rss_mib(), "MiB")
    bench.write()


if __name__ == "__main__":
    main()
