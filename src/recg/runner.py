"""Glue between a Snakemake `script:` and the package: log redirection, threads, clean errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from recg.errors import RecgError
from recg.progress import LogLines

Log = Callable[[str], None]


def run_rule(snakemake: Any, body: Callable[[Any, Log], None]) -> None:
    """Run `body(snakemake, log)` with stderr in the rule's log file.

    A user error (bad input or config) ends the job with one clear line, in the log and on the
    console, instead of a traceback; Snakemake then removes the job's outputs.
    """
    with open(snakemake.log[0], "w", buffering=1) as handle:
        console = sys.stderr
        sys.stderr = LogLines(handle)

        def log(message: str) -> None:
            print(message, file=handle, flush=True)

        try:
            import torch

            torch.set_num_threads(max(int(snakemake.threads), 1))
            body(snakemake, log)
        except RecgError as exc:
            log(f"ERROR: {exc}")
            print(f"ERROR in rule {snakemake.rule}: {exc}", file=console, flush=True)
            raise SystemExit(1) from None
        finally:
            sys.stderr = console
