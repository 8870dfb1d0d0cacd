"""Run one real pipeline stage in its own process, for tests that SIGKILL it part-way.

    python stage_runner.py embed ITEMS OUT CACHE [MARKER COUNT]
    python stage_runner.py train SETTINGS_JSON SEQUENCES SOURCE OTHERS_JSON OUT_DIR [MARKER COUNT]

The stage's progress lines go to stdout. With MARKER and COUNT, the process prints `STALLED` and
sleeps once its COUNT-th line starting with MARKER is out, so the test kills it at a known point.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

STALLED = "STALLED"


class Lines:
    """A log (callable, and a text stream) that echoes to stdout and stalls at the marked line."""

    def __init__(self, marker: str | None, count: int) -> None:
        self.marker, self.count, self.buffer = marker, count, ""

    def __call__(self, line: str) -> None:
        self.write(line + "\n")

    def write(self, text: str) -> int:
        sys.stdout.write(text)
        sys.stdout.flush()
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if self.marker and line.startswith(self.marker):
                self.count -= 1
                if self.count == 0:
                    print(STALLED, flush=True)
                    time.sleep(600)
        return len(text)

    def flush(self) -> None:
        sys.stdout.flush()


def embed(items: str, out: str, cache: str, log: Lines) -> None:
    from recg.embed import EncoderSettings, embed_items

    settings = EncoderSettings(name="minilm", max_length=32, batch_size=4)
    embed_items(items, out, settings, cache, "test", log=log, flush_every=8)


def train(settings: str, sequences: str, source: str, others: str, out: str, log: Lines) -> None:
    from recg.settings import TrainSettings
    from recg.train import train_to_files

    folder = Path(out)
    train_to_files(
        TrainSettings(**json.loads(settings)),
        sequences,
        source,
        json.loads(others),
        folder / "model.pt",
        folder / "config.json",
        folder / "train_log.csv",
        source="source",
        items_path=Path(sequences).with_name("items.parquet"),
        log=log,
    )


STAGES = {"embed": (embed, 3), "train": (train, 5)}

if __name__ == "__main__":
    stage, *args = sys.argv[1:]
    run, n_args = STAGES[stage]
    marker, count = (args[n_args], int(args[n_args + 1])) if len(args) > n_args else (None, 0)
    run(*args[:n_args], log=Lines(marker, count))
