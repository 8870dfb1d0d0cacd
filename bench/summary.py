"""One Markdown table of every benchmark's targeted figures, from results/bench/*.json.

`make bench` ends with it, so the figures that matter are read side by side, each with the
revision, load and date it was measured at (results of different runs may sit in the folder).

    python bench/summary.py [--all]      # --all: figures without a target too
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import RESULTS


def rows(results: list[dict], everything: bool) -> list[str]:
    lines = ["| bench | figure | value | unit | target | met |", "|---|---|---|---|---|---|"]
    for result in results:
        for f in result["figures"]:
            if f["target"] is None and not everything:
                continue
            value = "–" if f["value"] is None else f"{f['value']:,.4g}"
            met = {True: "yes", False: "**no**", None: "–"}[f["met"]]
            target = f["target"] or "–"
            lines.append(
                f"| {result['bench']} | {f['name']} | {value} | {f['unit']} | {target} | {met} |"
            )
    return lines


def provenance(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        rev, machine = r["revision"], r["machine"]
        dirty = " (uncommitted changes)" if rev.get("dirty") else ""
        lines.append(
            f"- {r['bench']}: {r['date']}, {rev.get('commit', '?')[:7]}{dirty}, "
            f"{machine['cpu']} x{machine['usable_cores']}, load {machine['load_average']:.2f}, "
            f"{'full' if r['full'] else 'default'} sizes, {r['seconds']:.0f} s"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also figures without a target")
    parser.add_argument("--folder", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = [json.loads(p.read_text()) for p in sorted(args.folder.glob("*.json"))]
    if not results:
        raise SystemExit(f"no benchmark results in {args.folder}: run `make bench` first")
    print("\n".join([*rows(results, args.all), "", *provenance(results)]))


if __name__ == "__main__":
    main()
