"""Progress for long jobs, sized for log files: a line every few seconds, not a bar per batch."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

from tqdm import tqdm

T = TypeVar("T")
INTERVAL = 5.0


class LogLines:
    """A stream for a log file: tqdm's carriage-return redraws become one line each."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def write(self, text: str) -> int:
        lines = [line.rstrip() for line in text.replace("\r", "\n").split("\n")]
        kept = "".join(f"{line}\n" for line in lines if line)
        if kept:
            self.handle.write(kept)
        return len(text)

    def flush(self) -> None:
        self.handle.flush()


def progress(
    items: Iterable[T], desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """`items` with a progress line on stderr at most every few seconds (and at the end)."""
    yield from tqdm(
        items,
        desc=desc,
        total=total,
        unit=unit,
        file=sys.stderr,
        mininterval=INTERVAL,
        maxinterval=INTERVAL * 6,
        ascii=True,
        ncols=100,
        leave=True,
    )
