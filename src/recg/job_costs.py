"""What the heavy jobs cost: per-rule wall time and peak memory from Snakemake's benchmark files.

Snakemake writes one tab-separated file per job (`benchmark:`), with the wall time in seconds
(`s`) and the peak resident memory in MiB (`max_rss`, `NA` when the job ended before the first
sample). A job run before benchmarks were recorded has no file; it is counted, not guessed.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from recg.errors import InputError
from recg.io import atomic_paths
from recg.pages import write_markdown

COLUMNS = ["rule", "jobs", "recorded", "total_s", "median_s", "max_s", "max_rss_mib"]


def read_benchmark(path: str | os.PathLike) -> tuple[float, float | None]:
    """(wall seconds, peak RSS in MiB or None) of one job; repeated runs count by their mean."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        raise InputError(f"{path}: no benchmark row (expected a header and one row per run)")
    seconds, rss = [], []
    for line, row in enumerate(rows, start=2):
        for key in ("s", "max_rss"):
            if key not in row:
                raise InputError(f"{path}: no column {key!r} (a Snakemake benchmark file?)")
        try:
            seconds.append(float(row["s"]))
            if row["max_rss"] not in ("NA", ""):
                rss.append(float(row["max_rss"]))
        except (TypeError, ValueError):
            raise InputError(
                f"{path}:{line}: s={row['s']!r}, max_rss={row['max_rss']!r} are not numbers"
            ) from None
    if not all(math.isfinite(s) and s >= 0 for s in seconds):
        raise InputError(f"{path}: wall time {seconds} is not a non-negative number")
    return statistics.fmean(seconds), max(rss) if rss else None


def summarise(files: Mapping[str, Sequence[str | os.PathLike]]) -> list[dict]:
    """One row per rule: jobs, jobs with a benchmark file, total/median/max wall s, max RSS."""
    rows = []
    for rule, paths in files.items():
        found = [read_benchmark(p) for p in paths if Path(p).exists()]
        seconds = [s for s, _ in found]
        rss = [r for _, r in found if r is not None]
        rows.append(
            {
                "rule": rule,
                "jobs": len(paths),
                "recorded": len(found),
                "total_s": sum(seconds) if seconds else None,
                "median_s": statistics.median(seconds) if seconds else None,
                "max_s": max(seconds) if seconds else None,
                "max_rss_mib": max(rss) if rss else None,
            }
        )
    return rows


def _cell(value: object) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def markdown(rows: Sequence[Mapping]) -> str:
    head = "| rule | jobs | recorded | total (s) | median (s) | max (s) | max RSS (MiB) |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(_cell(row[c]) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write(rows: Sequence[Mapping], csv_path: str | os.PathLike, md_path: str | os.PathLike) -> None:
    """The CSV table, then the Markdown one and its HTML page."""
    with atomic_paths(csv_path) as (csv_tmp,), open(csv_tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    write_markdown(markdown(rows), md_path)
