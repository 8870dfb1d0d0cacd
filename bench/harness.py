"""What every benchmark shares: the data it runs on, the machine it ran on, and its result file.

Each bench records figures (a value, its unit and, where the project has one, a target) and writes
`results/bench/<name>.json` with the machine (CPU model, cores, torch threads, GPU), the git
revision and the date, so that numbers from different machines and commits are never confused.
"""

from __future__ import annotations

import json
import operator
import os
import platform
import resource
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results" / "bench"
# paper-scale cases (20x preprocessing, 1M-user evaluation, whole catalogues) only when asked
FULL = os.environ.get("RECG_BENCH_FULL", "") not in ("", "0")
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def shared_data(*parts: str) -> Path | None:
    """The real data folder beside the checkout (or $RECG_SHARED_DATA), if it holds `parts`."""
    root = Path(os.environ.get("RECG_SHARED_DATA", REPO.parent / "shared" / "data"))
    path = root.joinpath(*parts)
    return path if path.exists() else None


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The hardware and software a figure was measured with."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0],
    }
    try:
        import torch
    except ImportError:
        return info
    info |= {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def revision() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        except OSError:
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


class Bench:
    """Figures of one benchmark, written together as results/bench/<name>.json."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name, self.data = name, data
        self.figures: list[dict[str, Any]] = []
        self.details: dict[str, Any] = {}
        self.started = datetime.now(timezone.utc)

    def figure(
        self, name: str, value: float | None, unit: str, target: str | None = None, note: str = ""
    ) -> dict[str, Any]:
        """Record a figure; `target` such as "< 1.5" or ">= 5" (in `unit`) decides `met`."""
        met = None
        if target is not None:
            op, bound = target.split()
            met = None if value is None else bool(OPS[op](value, float(bound)))
        row = {"name": name, "value": value, "unit": unit, "target": target, "met": met}
        if note:
            row["note"] = note
        self.figures.append(row)
        shown = "–" if value is None else f"{value:,.4g}"
        verdict = "" if target is None else f"  (target {target}: {'met' if met else 'NOT met'})"
        print(f"{self.name}: {name} = {shown} {unit}{verdict}", flush=True)
        return row

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        result = {
            "bench": self.name,
            "date": self.started.isoformat(timespec="seconds"),
            "seconds": (datetime.now(timezone.utc) - self.started).total_seconds(),
            "full": FULL,
            "revision": revision(),
            "machine": machine(),
            "data": self.data,
            "figures": self.figures,
            "details": self.details,
        }
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2, default=float) + "\n")
        tmp.replace(path)
        targets = [f for f in self.figures if f["target"] is not None]
        met = sum(bool(f["met"]) for f in targets)
        print(f"{self.name}: {met} of {len(targets)} targets met -> {path}", flush=True)
        return path


def games_sequences(users: int | None = None, seed: int = 0) -> tuple[str, list, int]:
    """(what they are, item-index sequences, catalogue size) of Games, at `users` users.

    The real Games domain preprocessed from the shared data (resampled with replacement when more
    users are asked for), or synthetic sequences of Games' size and shape without it.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    games = shared_data("amazon", "Games.jsonl.gz")
    if games:
        from recg.data import DomainSpec, preprocess

        meta = games.parent / "meta_Games.jsonl.gz"
        domain = preprocess(DomainSpec("Games", str(games), str(meta)), log=lambda m: None)
        column = domain.sequences["item_seq"].to_pylist()
        sequences = [np.asarray(s, dtype=np.int64) for s in column]
        n_items, label = domain.items.num_rows, "real Games"
        if users and users != len(sequences):
            picks = rng.choice(len(sequences), users, replace=users > len(sequences))
            sequences, label = [sequences[i] for i in picks], "real Games users, resampled"
        return label, sequences, n_items
    users = users or 50_546
    lengths = np.minimum(4 + rng.geometric(0.2, users), 200)
    items = np.arange(1, 16_859 + 1)
    sequences = [rng.choice(items, size=n, replace=False) for n in lengths]
    return "synthetic, Games-shaped", sequences, len(items)
