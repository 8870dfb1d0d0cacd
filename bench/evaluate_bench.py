"""Evaluation time for all Games users under both protocols, per backbone.

Ranks every Games user (real sequences from the shared data, synthetic ones of Games' size
otherwise) with a -Sem model over random 384-d item embeddings (the metric code does not care what
the weights are): drawing the sampled protocol's 100 negatives, encoding the users, full ranking
and sampled ranking, each timed apart.

Targets (2 threads): uni100, negatives included, under 1.5 s; full ranking under 6 s.

    python bench/evaluate_bench.py [--models gru4rec] [--threads 2]
    RECG_BENCH_FULL=1 python bench/evaluate_bench.py     # also 1M resampled users, no target
"""

from __future__ import annotations

import argparse
import time

import torch
from harness import FULL, Bench, games_sequences

from recg.models import build_model
from recg.negatives import sample_eval_negatives
from recg.ranking import rank_full, rank_sampled, user_vectors
from recg.sequences import split_inputs

MODELS = ("gru4rec", "sasrec", "bert4rec")


def timings(model_name: str, sequences: list, n_items: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = build_model(model_name, llm_dim=384, hidden=64, max_len=50, dropout=0.0)
    model.items.set_table(torch.cat([torch.zeros(1, 384), torch.randn(n_items, 384)]))
    out = {}
    start = time.perf_counter()
    negatives = sample_eval_negatives(sequences, n_items, 100, seed=1)
    out["draw_negatives_s"] = time.perf_counter() - start
    start = time.perf_counter()
    inputs, _ = split_inputs(sequences, "test", model.max_items)
    users = user_vectors(model, inputs)
    out["encode_users_s"] = time.perf_counter() - start
    start = time.perf_counter()
    rank_full(model, sequences, "test", users=users)
    out["rank_full_s"] = time.perf_counter() - start
    start = time.perf_counter()
    rank_sampled(model, sequences, negatives, users=users)
    out["rank_uni100_s"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--large-users", type=int, default=1_000_000 if FULL else 0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    label, sequences, n_items = games_sequences()
    data = {"sequences": label, "users": len(sequences), "items": n_items}
    bench = Bench("evaluate", data)
    for model in args.models:
        t = timings(model, sequences, n_items)
        bench.details[model] = t
        uni = t["draw_negatives_s"] + t["encode_users_s"] + t["rank_uni100_s"]
        full = t["encode_users_s"] + t["rank_full_s"]
        bench.figure(f"{model}_uni100_s", uni, "s", "< 1.5")
        bench.figure(f"{model}_full_s", full, "s", "< 6")
    if args.large_users:
        label, sequences, n_items = games_sequences(args.large_users)
        bench.data["large"] = {"sequences": label, "users": len(sequences), "items": n_items}
        t = timings(args.models[0], sequences, n_items)
        bench.details[f"{args.models[0]}_{len(sequences)}_users"] = t
        uni = t["draw_negatives_s"] + t["encode_users_s"] + t["rank_uni100_s"]
        full = t["encode_users_s"] + t["rank_full_s"]
        bench.figure(f"{args.models[0]}_uni100_users_per_s_large", len(sequences) / uni, "users/s")
        bench.figure(f"{args.models[0]}_full_users_per_s_large", len(sequences) / full, "users/s")
    bench.write()


if __name__ == "__main__":
    main()
