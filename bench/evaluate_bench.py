"""Evaluation throughput: users per second under both protocols at Games scale.

Builds a GRU4Rec-Sem model over random 384-d item embeddings (the metric code does not care what
the weights are) and times user encoding, full ranking and sampled ranking, plus drawing the
sampled protocol's negatives.

    python bench/evaluate_bench.py [--users 50000] [--items 17000] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from recg.models import build_model
from recg.negatives import sample_eval_negatives
from recg.ranking import rank_full, rank_sampled, user_vectors
from recg.sequences import split_inputs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=17_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="gru4rec")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    lengths = np.minimum(5 + rng.geometric(0.25, args.users), 50)
    sequences = [rng.choice(np.arange(1, args.items + 1), size=n, replace=False) for n in lengths]
    torch.manual_seed(0)
    model = build_model(args.model, llm_dim=384, hidden=64, max_len=50, dropout=0.0)
    model.items.set_table(torch.cat([torch.zeros(1, 384), torch.randn(args.items, 384)]))

    timings = {}
    start = time.perf_counter()
    negatives = sample_eval_negatives(sequences, args.items, 100, seed=1)
    timings["draw negatives"] = time.perf_counter() - start
    start = time.perf_counter()
    inputs, _ = split_inputs(sequences, "test", model.max_items)
    users = user_vectors(model, inputs)
    timings["encode users"] = time.perf_counter() - start
    start = time.perf_counter()
    rank_full(model, sequences, "test", users=users)
    timings["rank full"] = time.perf_counter() - start
    start = time.perf_counter()
    rank_sampled(model, sequences, negatives, users=users)
    timings["rank uni100"] = time.perf_counter() - start
    print(f"{args.users:,} users, {args.items:,} items, {args.model}, {args.threads} threads")
    for name, seconds in timings.items():
        print(f"{name:<16}{seconds:8.2f} s{args.users / seconds:12,.0f} users/s")


if __name__ == "__main__":
    main()
