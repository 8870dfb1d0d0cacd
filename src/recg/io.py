"""Atomic, provenance-carrying writes so a failed job never leaves a half-written output."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import socket
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recg.errors import OutputError

METADATA_KEY = b"recg"


def _temp_prefix(target: Path) -> str:
    # Owner pid and host in the name let a later write remove what a killed writer left behind.
    return f".{target.name}.{os.getpid()}@{socket.gethostname()}."


def _remove_orphans(target: Path) -> None:
    """Delete temporary siblings of `target` whose writer, on this host, no longer runs."""
    stem, host = f".{target.name}.", socket.gethostname()
    with contextlib.suppress(OSError), os.scandir(target.parent) as entries:
        for entry in entries:
            name = entry.name
            if not (name.startswith(stem) and name.endswith(".tmp")):
                continue
            owner, _, rest = name[len(stem) :].partition("@")
            if not owner.isdigit() or rest.rsplit(".", 2)[0] != host:
                continue
            try:
                os.kill(int(owner), 0)
            except ProcessLookupError:
                Path(entry.path).unlink(missing_ok=True)
            except PermissionError:
                pass


# what a full or read-only disk raises while a file is written (pyarrow keeps the errno too)
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _make_temp(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield temporary sibling paths that replace `paths` together, only if the block succeeds."""
    targets = [Path(p) for p in paths]
    temps: list[Path] = []
    try:
        for target in targets:
            temps.append(_make_temp(target))
        try:
            yield temps
        except OSError as exc:
            if exc.errno not in WRITE_ERRORS:
                raise
            names = ", ".join(str(t) for t in targets)
            raise OutputError(f"cannot write {names}: {os.strerror(exc.errno)}") from exc
        for tmp, target in zip(temps, targets, strict=True):
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    for target in targets:
        _remove_orphans(target)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path that replaces `path` only if the block succeeds."""
    with atomic_paths(path) as (tmp,):
        yield tmp


def write_json(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(_json_text(obj))


def write_csv(frame: Any, path: str | os.PathLike) -> None:
    """A pandas frame as CSV, 6 significant digits, without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def read_table(path: str | os.PathLike) -> Any:
    """A CSV the workflow wrote, settings ids as text: read as numbers, `350e5461` would be inf."""
    import pandas as pd

    return pd.read_csv(path, dtype={"settings": str})


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """torch.save through memory: the archive's inner folder name would otherwise be the
    temporary file's name, making identical weights differ byte for byte."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _with_metadata(table: pa.Table, metadata: Mapping[str, Any]) -> pa.Table:
    existing = dict(table.schema.metadata or {})
    existing[METADATA_KEY] = json.dumps(metadata, sort_keys=True, default=_json_default).encode()
    return table.replace_schema_metadata(existing)


def write_parquet(table: pa.Table, path: str | os.PathLike, metadata: Mapping[str, Any]) -> None:
    """Write `table` with `metadata` stored as JSON under the file-level key `recg`."""
    table = _with_metadata(table, metadata)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_tables(
    tables: Mapping[str | os.PathLike, pa.Table],
    metadata: Mapping[str, Any],
    json_outputs: Mapping[str | os.PathLike, Any] | None = None,
) -> None:
    """Write several Parquet and JSON outputs so that either all of them appear or none does."""
    json_outputs = json_outputs or {}
    paths = [*tables, *json_outputs]
    with atomic_paths(*paths) as temps:
        for tmp, table in zip(temps, tables.values(), strict=False):
            pq.write_table(_with_metadata(table, metadata), tmp, compression="zstd")
        for tmp, obj in zip(temps[len(tables) :], json_outputs.values(), strict=True):
            tmp.write_text(_json_text(obj))


def read_parquet_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Return the `recg` provenance stored in a Parquet file (empty if none)."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else {}
