"""Raw reviews -> chronological item sequences, in memory bounded by the interaction arrays.

JSON reviews are streamed through pyarrow's JSON reader in small blocks (no Python object per
line, nor per distinct user: ids become int32 codes into one Arrow array of names); Python-literal
reviews (Steam), and any JSON file that the fast reader rejects, are read line by line so that an
error names its line. Metadata is read line by line but only the text of reviewed items is kept.
"""

from __future__ import annotations

import ast
import gzip
import json
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from recg.errors import EmptyDomainError, InputError
from recg.io import write_tables
from recg.provenance import provenance
from recg.text import DEFAULT_TEMPLATE, ItemFields, clean, render

MIN_SEQUENCE_LENGTH = 3  # one training item, one validation item, one test item
REPORTED_LINES = 10  # line numbers of skipped or odd lines kept in stats.json
BLOCK_BYTES = 1 << 18  # JSON per block: room for any review line; the reader holds ~40 blocks
CODEBOOK_MERGE_BYTES = 1 << 20  # batch dictionaries held before they are coded together
COLUMN_BLOCK_ROWS = 1 << 20  # rows per block of a column that grows while a file is read


@dataclass(frozen=True)
class RawFormat:
    """Field names of one raw layout.

    `time_scale` converts integer timestamps to milliseconds; with `dates` the time field is a
    'YYYY-MM-DD' string, read as midnight UTC. Text fields name alternatives: the first present
    one is used, except that with `join_features` all feature fields are joined.
    """

    user: str
    item: str
    time: str
    time_scale: int
    meta_item: str
    title: tuple[str, ...]
    features: tuple[str, ...]
    description: tuple[str, ...]
    brand: tuple[str, ...]
    categories: tuple[str, ...]
    meta_literals: bool
    review_literals: bool = False
    dates: bool = False
    join_features: bool = False


FORMATS: dict[str, RawFormat] = {
    "amazon2023": RawFormat(
        user="user_id",
        item="parent_asin",
        time="timestamp",
        time_scale=1,
        meta_item="parent_asin",
        title=("title",),
        features=("features",),
        description=("description",),
        brand=("store",),
        categories=("categories",),
        meta_literals=False,
    ),
    # Amazon 2018 and 2014 share these names; 2014 metadata lines are Python literals.
    "amazon2018": RawFormat(
        user="reviewerID",
        item="asin",
        time="unixReviewTime",
        time_scale=1000,
        meta_item="asin",
        title=("title",),
        features=("feature", "features"),
        description=("description",),
        brand=("brand",),
        categories=("category", "categories"),
        meta_literals=True,
    ),
    # Steam (Kang & McAuley 2018): steam_reviews.json.gz and steam_games.json.gz, both one Python
    # literal per line; reviews carry a day, games no description.
    "steam": RawFormat(
        user="username",
        item="product_id",
        time="date",
        time_scale=1,
        meta_item="id",
        title=("app_name", "title"),
        features=("genres", "tags", "specs"),
        description=("description",),
        brand=("developer", "publisher"),
        categories=("genres",),
        meta_literals=True,
        review_literals=True,
        dates=True,
        join_features=True,
    ),
}


@dataclass
class DomainSpec:
    name: str
    reviews: str
    meta: str
    format: str = "amazon2023"
    kcore: int = 5
    kcore_mode: str = "iterative"
    min_year: int | None = None
    template: str = DEFAULT_TEMPLATE
    max_field_chars: int = 1000
    max_bad_lines: int = 0


@dataclass
class Interactions:
    """Columnar interactions in file order; ids index into `users` / `items`.

    `order` gives the file positions when the rows are not in file order; left empty, the row
    order is the file order, which saves a column of the size of the time stamps.
    """

    users: Sequence[str] | pa.Array
    items: Sequence[str] | pa.Array
    user: np.ndarray
    item: np.ndarray
    time: np.ndarray
    order: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def take(self, mask: np.ndarray) -> Interactions:
        """The rows where `mask` is true; itself, not a copy, when that is all of them."""
        if mask.all():
            return self
        return Interactions(
            self.users,
            self.items,
            self.user[mask],
            self.item[mask],
            self.time[mask],
            self.order[mask] if len(self.order) else self.order,
        )

    def argsort(self, *keys: np.ndarray) -> np.ndarray:
        """Row indices sorted by `keys`, the last one first, rows with equal keys in file order."""
        # lexsort is stable: without `order`, equal keys stay in row order
        return np.lexsort((self.order, *keys) if len(self.order) else keys)

    def __len__(self) -> int:
        return len(self.user)


@dataclass
class Domain:
    items: pa.Table
    sequences: pa.Table
    stats: dict[str, Any]


# ---------------------------------------------------------------------------------------- reading


def _check_exists(path: Path, role: str) -> None:
    if not path.is_file():
        raise InputError(f"{role} file not found: {path}")


def _is_gzip(path: Path) -> bool:
    """By content, not by name: a gzip file without '.gz' (or a plain one with it) still reads."""
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based line number, raw line), turning gzip damage into an InputError."""
    try:
        with gzip.open(path, "rb") if _is_gzip(path) else path.open("rb") as handle:
            yield from enumerate(handle, start=1)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt gzip file ({exc})") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _check_utf8(path: Path, lineno: int, raw: bytes, fields: dict[str, str]) -> None:
    for key, value in fields.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            column = raw.decode("utf-8", "replace").find("\ufffd") + 1
            raise InputError(
                f"{path}:{lineno}: field '{key}' is not UTF-8 text (bad byte near column {column})"
            ) from None


def _parse_line(path: Path, lineno: int, line: str, python_literals: bool) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        message = f"{path}:{lineno}: malformed JSON: {exc.msg}"
        if python_literals:
            try:
                record = ast.literal_eval(line)
            except (ValueError, SyntaxError, MemoryError, RecursionError) as exc2:
                raise InputError(f"{message} (nor a Python literal)") from exc2
        else:
            if lineno == 1:
                message += " (expected JSON Lines: one JSON object per line)"
            raise InputError(message) from exc
    if not isinstance(record, dict):
        hint = ""
        if isinstance(record, list):
            hint = " (a JSON array is not JSON Lines: write one object per line)"
        raise InputError(
            f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}{hint}"
        )
    return record


class _BadLines:
    """Review lines skipped under `preprocess.max_bad_lines`; one more than allowed is an error."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.first: list[int] = []

    def skip(self, error: InputError, lineno: int) -> None:
        self.count += 1
        if len(self.first) < REPORTED_LINES:
            self.first.append(lineno)
        if self.count > self.limit:
            if self.limit == 0:
                # a bad first line means a wrong file rather than a damaged line: no hint then
                hint = " (to skip such lines, set preprocess.max_bad_lines)" if lineno > 1 else ""
                raise InputError(f"{error}{hint}")
            lines = ", ".join(map(str, self.first))
            raise InputError(
                f"{error}; that is bad review line {self.count}, more than "
                f"preprocess.max_bad_lines={self.limit} (bad lines: {lines}"
                f"{', ...' if self.count > len(self.first) else ''})"
            )


def _review_fields(
    path: Path, lineno: int, record: dict[str, Any], fmt: RawFormat, days: dict[str, int]
) -> tuple[str, str, int]:
    """User, item and time in milliseconds of one review record, or an InputError naming it."""
    values = []
    for key in (fmt.user, fmt.item):
        value = record.get(key)
        if value is None:
            raise InputError(f"{path}:{lineno}: missing required field '{key}'")
        if not isinstance(value, str):
            raise InputError(
                f"{path}:{lineno}: field '{key}' must be str, got {type(value).__name__} {value!r}"
            )
        values.append(value)
    value = record.get(fmt.time)
    if value is None:
        raise InputError(f"{path}:{lineno}: missing required field '{fmt.time}'")
    if fmt.dates:
        time = days.get(value) if isinstance(value, str) else None
        if time is None:
            time = days[value] = _day_ms(path, lineno, fmt.time, value)
    elif isinstance(value, int) and not isinstance(value, bool):
        time = value * fmt.time_scale
    else:
        raise InputError(
            f"{path}:{lineno}: field '{fmt.time}' must be int, got {type(value).__name__} {value!r}"
        )
    return values[0], values[1], time


def _day_ms(path: Path, lineno: int, key: str, value: Any) -> int:
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{path}:{lineno}: field '{key}' must be a 'YYYY-MM-DD' date, got {value!r}"
        ) from None
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


class _Codebook:
    """Maps strings to dense int32 codes in first-seen order, touching each distinct value once."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.values: list[str] = []

    def encode(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        encoded = pc.dictionary_encode(column)
        chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
        parts = []
        for chunk in chunks:
            lookup = np.fromiter(
                (self.code(v) for v in chunk.dictionary.to_pylist()),
                dtype=np.int32,
                count=len(chunk.dictionary),
            )
            parts.append(lookup[chunk.indices.to_numpy(zero_copy_only=False)])
        return np.concatenate(parts) if parts else np.empty(0, np.int32)

    def code(self, value: str) -> int:
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.values)
            self.values.append(value)
        return code


class _Column:
    """A growing integer column kept in fixed blocks and joined once, releasing each block as it
    is copied: no reallocation copies or heap holes, and a peak of the column plus one block."""

    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype)
        self.blocks: list[np.ndarray] = []
        self.fill = COLUMN_BLOCK_ROWS

    def extend(self, values: np.ndarray) -> None:
        start = 0
        while start < len(values):
            if self.fill == COLUMN_BLOCK_ROWS:
                self.blocks.append(np.empty(COLUMN_BLOCK_ROWS, self.dtype))
                self.fill = 0
            n = min(len(values) - start, COLUMN_BLOCK_ROWS - self.fill)
            self.blocks[-1][self.fill : self.fill + n] = values[start : start + n]
            self.fill += n
            start += n

    def join(self) -> np.ndarray:
        total = COLUMN_BLOCK_ROWS * (len(self.blocks) - 1) + self.fill if self.blocks else 0
        out = np.empty(total, self.dtype)
        self.blocks.reverse()
        for start in range(0, total, COLUMN_BLOCK_ROWS):
            block = self.blocks.pop()
            out[start : start + COLUMN_BLOCK_ROWS] = block[: total - start]
            del block
        self.fill = COLUMN_BLOCK_ROWS
        return out


class _ArrowCodebook:
    """Like _Codebook, for a stream of Arrow string batches, holding the distinct values as one
    Arrow array (their bytes and an offset each) instead of a Python string and dict entry each.

    A batch is dictionary-encoded on arrival; its small dictionary waits until the waiting ones
    outweigh the values already coded, then all are coded in one pass, so each value is hashed
    a bounded number of times. Codes, in file order, accumulate in `codes`.
    """

    def __init__(self) -> None:
        self.values = pa.array([], pa.string())
        self.codes = _Column(np.int32)
        self._waiting: list[tuple[pa.Array, np.ndarray]] = []
        self._waiting_bytes = 0

    def add(self, column: pa.Array) -> None:
        encoded = pc.dictionary_encode(column)
        dictionary = encoded.dictionary
        dictionary.validate(full=True)  # the JSON reader lets bytes that are not UTF-8 through
        self._waiting.append((dictionary, encoded.indices.to_numpy(zero_copy_only=False)))
        self._waiting_bytes += dictionary.nbytes
        if self._waiting_bytes > max(self.values.nbytes, CODEBOOK_MERGE_BYTES):
            self.flush()

    def flush(self) -> None:
        if not self._waiting:
            return
        merged = pc.dictionary_encode(
            pa.concat_arrays([self.values, *(d for d, _ in self._waiting)])
        )
        codes = merged.indices.to_numpy(zero_copy_only=False)
        start = len(self.values)
        for dictionary, indices in self._waiting:
            lookup = codes[start : start + len(dictionary)]
            start += len(dictionary)
            self.codes.extend(lookup[indices])
        self.values = merged.dictionary
        self._waiting, self._waiting_bytes = [], 0

    def result(self) -> np.ndarray:
        self.flush()
        return self.codes.join()


class _SchemaProblem(Exception):
    pass


def _read_fast(path: Path, fmt: RawFormat, min_time_ms: int | None) -> tuple[Interactions, int]:
    """pyarrow's JSON reader; raises _SchemaProblem (or pyarrow's error) on any doubtful line.

    Small blocks without reader threads: the parsed blocks in flight, not the interactions,
    would otherwise dominate the memory.
    """
    schema = pa.schema([(fmt.user, pa.string()), (fmt.item, pa.string()), (fmt.time, pa.int64())])
    users, items = _ArrowCodebook(), _ArrowCodebook()
    times = _Column(np.int64)
    total = 0
    stream = pa.input_stream(str(path), compression="gzip" if _is_gzip(path) else None)
    reader = pj.open_json(
        stream,
        read_options=pj.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )
    for batch in reader:
        total += batch.num_rows
        columns = [batch.column(name) for name in (fmt.user, fmt.item, fmt.time)]
        if any(col.null_count for col in columns):
            raise _SchemaProblem
        time = columns[2].to_numpy() * fmt.time_scale
        if min_time_ms is not None:
            keep = time >= min_time_ms
            columns = [col.filter(pa.array(keep)) for col in columns]
            time = time[keep]
        users.add(columns[0])
        items.add(columns[1])
        times.extend(time)
    user, item = users.result(), items.result()
    inter = Interactions(users.values, items.values, user, item, times.join())
    pa.default_memory_pool().release_unused()  # the merges' hash tables, for the sorts to come
    return inter, total


def _read_lines(
    path: Path, fmt: RawFormat, min_time_ms: int | None, bad: _BadLines
) -> tuple[Interactions, int]:
    """One record at a time, so that a bad line is named, and skipped if the config allows."""
    users, items = _Codebook(), _Codebook()
    user, item, time = array("i"), array("i"), array("q")
    days: dict[str, int] = {}
    total = 0
    for lineno, raw in _iter_lines(path):
        if not raw.strip():
            continue
        total += 1
        try:
            try:
                line, dirty = raw.decode("utf-8"), False
            except UnicodeDecodeError:
                # Like the fast reader, tolerate stray bytes in fields that are not read.
                line, dirty = raw.decode("utf-8", "surrogateescape"), True
            record = _parse_line(path, lineno, line, fmt.review_literals)
            u, i, t = _review_fields(path, lineno, record, fmt, days)
            if dirty:
                _check_utf8(path, lineno, raw, {fmt.user: u, fmt.item: i})
        except InputError as exc:
            bad.skip(exc, lineno)
            continue
        if min_time_ms is not None and t < min_time_ms:
            continue
        user.append(users.code(u))
        item.append(items.code(i))
        time.append(t)
    inter = Interactions(
        users=users.values,
        items=items.values,
        user=np.frombuffer(user, np.int32),
        item=np.frombuffer(item, np.int32),
        time=np.frombuffer(time, np.int64),
    )
    return inter, total


def read_interactions(
    path: str | Path, fmt: RawFormat, min_time_ms: int | None = None, max_bad_lines: int = 0
) -> tuple[Interactions, dict[str, Any]]:
    """Stream a review file; return interactions at or after `min_time_ms` and a line report.

    Up to `max_bad_lines` malformed or incomplete lines are skipped and reported.
    """
    path = Path(path)
    _check_exists(path, "reviews")
    bad = _BadLines(max_bad_lines)
    inter = None
    if not fmt.review_literals:
        try:
            inter, total = _read_fast(path, fmt, min_time_ms)
        except (pa.ArrowInvalid, _SchemaProblem, UnicodeDecodeError, OSError):
            inter = None
    if inter is None:
        inter, total = _read_lines(path, fmt, min_time_ms, bad)
    if total == 0:
        raise InputError(f"{path}: no reviews (the file is empty)")
    if total == bad.count:
        raise InputError(f"{path}: no usable review: all {total} lines are bad")
    report = {"lines": total, "bad_lines": bad.count, "first_bad_lines": bad.first}
    return inter, report


def _first_present(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if record.get(key) not in (None, "", []):
            return record[key]
    return None


def _joined(record: dict[str, Any], keys: tuple[str, ...], max_chars: int) -> str:
    """All the named fields, comma-separated, a value repeated in a later field (a genre among
    the tags) once."""
    seen: set[str] = set()
    parts: list[str] = []
    for key in keys:
        values = record.get(key)
        for value in values if isinstance(values, list) else [values]:
            text = clean(value, max_chars)
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                parts.append(text)
    return clean(", ".join(parts), max_chars)


def _item_fields(record: dict[str, Any], fmt: RawFormat, max_chars: int) -> ItemFields:
    if fmt.join_features:
        features = _joined(record, fmt.features, max_chars)
    else:
        features = clean(_first_present(record, fmt.features), max_chars)
    return ItemFields(
        title=clean(_first_present(record, fmt.title), max_chars),
        features=features,
        description=clean(_first_present(record, fmt.description), max_chars),
        brand=clean(_first_present(record, fmt.brand), max_chars),
        categories=clean(_first_present(record, fmt.categories), max_chars),
    )


def read_item_fields(
    path: str | Path, fmt: RawFormat, wanted: dict[str, int], max_chars: int
) -> tuple[dict[int, ItemFields], dict[str, Any]]:
    """Text fields of the wanted items (keyed by their code) and a report on the file.

    The first record of an item wins; later ones are counted. A line without an item id (Steam's
    games file has some) cannot be joined to any review: it is counted and skipped. Bytes that
    are not UTF-8 are replaced, and the line counted.
    """
    path = Path(path)
    _check_exists(path, "meta")
    found: dict[int, ItemFields] = {}
    ids = array("q")
    lines = 0
    no_id: list[int] = []
    no_id_count = 0
    not_utf8: list[int] = []
    not_utf8_count = 0
    for lineno, raw in _iter_lines(path):
        if not raw.strip():
            continue
        lines += 1
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("utf-8", "replace")
            not_utf8_count += 1
            if len(not_utf8) < REPORTED_LINES:
                not_utf8.append(lineno)
        record = _parse_line(path, lineno, line, fmt.meta_literals)
        item_id = record.get(fmt.meta_item)
        if not isinstance(item_id, str) or not item_id:
            no_id_count += 1
            if len(no_id) < REPORTED_LINES:
                no_id.append(lineno)
            continue
        ids.append(hash(item_id))
        code = wanted.get(item_id)
        if code is None or code in found:
            continue
        found[code] = _item_fields(record, fmt, max_chars)
    if lines and no_id_count == lines:
        raise InputError(
            f"{path}: no line has the item id field '{fmt.meta_item}' "
            f"(is the domain's format right?)"
        )
    distinct = len(np.unique(np.frombuffer(ids, np.int64))) if len(ids) else 0
    report = {
        "lines": lines,
        "duplicate_lines": len(ids) - distinct,
        "lines_without_id": no_id_count,
        "first_lines_without_id": no_id,
        "non_utf8_lines": not_utf8_count,
        "first_non_utf8_lines": not_utf8,
        "reviewed_items_missing": len(wanted) - len(found),
        "unreviewed_items": distinct - len(found),
        "empty_titles": sum(1 for f in found.values() if not f.title),
    }
    return found, report


# -------------------------------------------------------------------------------------- filtering


def dedupe_first(inter: Interactions) -> Interactions:
    """Keep each user's earliest interaction with an item (ties: first in the file)."""
    pair = inter.user.astype(np.int64) * len(inter.items) + inter.item  # (user, item) in one key
    order = inter.argsort(inter.time, pair)
    in_order = pair[order]
    del pair
    repeat = np.zeros(len(order), dtype=bool)
    repeat[1:] = in_order[1:] == in_order[:-1]
    del in_order
    keep = np.ones(len(order), dtype=bool)
    keep[order[repeat]] = False
    del order, repeat
    return inter.take(keep)


def kcore(inter: Interactions, k: int, iterative: bool = True) -> tuple[Interactions, int]:
    """Drop users and items with fewer than k interactions; iterate to a fixed point if asked.

    Returns the kept interactions and the number of passes that removed something.
    """
    rounds = 0
    keep = np.ones(len(inter), dtype=bool)
    n_users, n_items = len(inter.users), len(inter.items)
    while keep.any():
        user_count = np.bincount(inter.user[keep], minlength=n_users)
        item_count = np.bincount(inter.item[keep], minlength=n_items)
        ok = keep & (user_count >= k)[inter.user] & (item_count >= k)[inter.item]
        if ok.sum() == keep.sum():
            break
        keep = ok
        rounds += 1
        if not iterative:
            break
    return inter.take(keep), rounds


def _present(codes: np.ndarray, values: Sequence[str] | pa.Array) -> np.ndarray:
    """The codes that occur, ascending: one count per code, no sort of the rows."""
    return np.flatnonzero(np.bincount(codes, minlength=len(values)))


def _counts(inter: Interactions) -> dict[str, int]:
    return {
        "interactions": len(inter),
        "users": len(_present(inter.user, inter.users)),
        "items": len(_present(inter.item, inter.items)),
    }


def _record(steps: list[dict[str, Any]], step: str, before: dict, after: dict, **extra) -> None:
    steps.append(
        {
            "step": step,
            **{f"removed_{key}": before[key] - after[key] for key in before},
            **after,
            **extra,
        }
    )


def _ensure_nonempty(name: str, inter: Interactions, step: str, detail: str) -> None:
    if len(inter) == 0:
        raise EmptyDomainError(
            f"domain '{name}': no interactions left after filter '{step}' ({detail})"
        )


def year_start_ms(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)


# ------------------------------------------------------------------------------------- preprocess


def preprocess(spec: DomainSpec, log: Callable[[str], None] = print) -> Domain:
    """Reviews + metadata -> items table, chronological sequences table and filter statistics."""
    if spec.format not in FORMATS:
        raise InputError(f"domain '{spec.name}': unknown format '{spec.format}'")
    fmt = FORMATS[spec.format]
    steps: list[dict[str, Any]] = []
    min_time = None if spec.min_year is None else year_start_ms(spec.min_year)
    inter, reviews = read_interactions(spec.reviews, fmt, min_time, spec.max_bad_lines)
    raw_total = reviews["lines"] - reviews["bad_lines"]
    log(f"{spec.name}: read {raw_total:,} reviews from {spec.reviews}")
    if reviews["bad_lines"]:
        log(
            f"{spec.name}: WARNING: skipped {reviews['bad_lines']:,} bad lines of {spec.reviews} "
            f"(preprocess.max_bad_lines={spec.max_bad_lines}; lines "
            f"{', '.join(map(str, reviews['first_bad_lines']))})"
        )
    steps.append({"step": "read", "interactions": raw_total})
    if spec.min_year is not None:
        after = _counts(inter)
        steps.append(
            {
                "step": "min_year",
                "year": spec.min_year,
                "removed_interactions": raw_total - len(inter),
                **after,
            }
        )
        _ensure_nonempty(spec.name, inter, "min_year", f"no review from {spec.min_year} on")

    before = _counts(inter)
    inter = dedupe_first(inter)
    _record(steps, "dedupe", before, _counts(inter))

    codes = {asin: code for code, asin in enumerate(_strings(inter.items).to_pylist())}
    fields, meta = read_item_fields(spec.meta, fmt, codes, spec.max_field_chars)
    _log_meta(spec, meta, log)
    has_text = np.zeros(len(inter.items), dtype=bool)
    for code, item_fields in fields.items():
        has_text[code] = item_fields.has_text()
    before = _counts(inter)
    inter = inter.take(has_text[inter.item])
    _record(steps, "no_text", before, _counts(inter))
    _ensure_nonempty(
        spec.name,
        inter,
        "no_text",
        f"no reviewed item has a title, features or description in {spec.meta}",
    )

    before = _counts(inter)
    inter, rounds = kcore(inter, spec.kcore, iterative=spec.kcore_mode == "iterative")
    _record(
        steps, "kcore", before, _counts(inter), k=spec.kcore, mode=spec.kcore_mode, rounds=rounds
    )
    _ensure_nonempty(spec.name, inter, "kcore", f"k={spec.kcore}, {spec.kcore_mode}")

    before = _counts(inter)
    long_enough = np.bincount(inter.user, minlength=len(inter.users)) >= MIN_SEQUENCE_LENGTH
    inter = inter.take(long_enough[inter.user])
    _record(steps, "min_sequence_length", before, _counts(inter), length=MIN_SEQUENCE_LENGTH)
    _ensure_nonempty(
        spec.name, inter, "min_sequence_length", f"no user has {MIN_SEQUENCE_LENGTH}+ interactions"
    )

    items, sequences = _build_tables(inter, fields, spec.template)
    stats = _stats(spec, items, sequences, steps)
    stats["input"] = {"reviews": reviews, "meta": meta}
    log(
        f"{spec.name}: {stats['users']:,} users, {stats['items']:,} items, "
        f"{stats['interactions']:,} interactions"
    )
    return Domain(items=items, sequences=sequences, stats=stats)


def _log_meta(spec: DomainSpec, meta: dict[str, Any], log: Callable[[str], None]) -> None:
    notes = {
        "duplicate_lines": "duplicate lines (the first line of an item is used)",
        "lines_without_id": "lines without an item id (skipped)",
        "non_utf8_lines": "lines with bytes that are not UTF-8 (replaced)",
        "reviewed_items_missing": "reviewed items without metadata (dropped as no-text)",
        "unreviewed_items": "items never reviewed",
        "empty_titles": "reviewed items whose title is empty after clean-up",
    }
    for key, note in notes.items():
        if meta[key]:
            log(f"{spec.name}: {spec.meta}: {note}: {meta[key]:,}")


def _strings(values: Sequence[str] | pa.Array) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, pa.string())


def _sorted_names(
    values: Sequence[str] | pa.Array, codes: np.ndarray
) -> tuple[pa.Array, np.ndarray]:
    """The names of `codes` in sorted order, and the codes in that order.

    Arrow compares UTF-8 bytes, which orders strings as Python does (by code point).
    """
    names = _strings(values).take(pa.array(codes))
    by_name = pc.sort_indices(names).to_numpy()
    return names.take(pa.array(by_name)).cast(pa.string()), codes[by_name]


def _build_tables(
    inter: Interactions, fields: dict[int, ItemFields], template: str
) -> tuple[pa.Table, pa.Table]:
    """Number items 1..N by ASIN (0 is padding) and users by id; order each sequence by time."""
    asins, ordered_codes = _sorted_names(inter.items, _present(inter.item, inter.items))
    n_items = len(ordered_codes)
    item_idx = np.zeros(len(inter.items), dtype=np.int32)
    item_idx[ordered_codes] = np.arange(1, n_items + 1, dtype=np.int32)
    ordered_codes = ordered_codes.tolist()
    items = pa.table(
        {
            "item_idx": pa.array(np.arange(1, n_items + 1, dtype=np.int32)),
            "parent_asin": asins,
            "title": pa.array([fields[c].title for c in ordered_codes], pa.string()),
            "text": pa.array([render(fields[c], template) for c in ordered_codes], pa.string()),
        }
    )

    user_names, user_codes = _sorted_names(inter.users, _present(inter.user, inter.users))
    user_rank = np.zeros(len(inter.users), dtype=np.int32)
    user_rank[user_codes] = np.arange(len(user_codes), dtype=np.int32)
    rank = user_rank[inter.user]
    offsets = np.zeros(len(user_codes) + 1, dtype=np.int32)
    np.cumsum(np.bincount(rank, minlength=len(user_codes)), out=offsets[1:])
    order = inter.argsort(inter.time, rank)
    del rank
    sequences = pa.table(
        {
            "user_id": user_names,
            "item_seq": pa.ListArray.from_arrays(
                pa.array(offsets), pa.array(item_idx[inter.item[order]])
            ),
            "timestamp_seq": pa.ListArray.from_arrays(
                pa.array(offsets), pa.array(inter.time[order])
            ),
        }
    )
    return items, sequences


def _stats(
    spec: DomainSpec, items: pa.Table, sequences: pa.Table, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    lengths = pc.list_value_length(sequences["item_seq"]).to_numpy()
    n_users, n_items, n_inter = len(lengths), items.num_rows, int(lengths.sum())
    return {
        "domain": spec.name,
        "users": n_users,
        "items": n_items,
        "interactions": n_inter,
        "density": n_inter / (n_users * n_items),
        "sequence_length": {
            "min": int(lengths.min()),
            "median": float(np.median(lengths)),
            "mean": float(lengths.mean()),
            "max": int(lengths.max()),
        },
        "filters": steps,
    }


# ----------------------------------------------------------------------------------- for training


def load_sequences(path: str | Path) -> list[np.ndarray]:
    """Item-index sequences of a domain's sequences.parquet, one int64 array per user."""
    column = pq.read_table(path, columns=["item_seq"])["item_seq"].combine_chunks()
    offsets = column.offsets.to_numpy()
    values = column.values.to_numpy().astype(np.int64)
    return [values[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def preprocess_to_files(
    spec: DomainSpec,
    items_path: str | Path,
    sequences_path: str | Path,
    stats_path: str | Path,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run `preprocess` and write its three outputs, each carrying its provenance: all or none."""
    domain = preprocess(spec, log)
    prov = {"domain": spec.name, **provenance(asdict(spec))}
    write_tables(
        {items_path: domain.items, sequences_path: domain.sequences},
        prov,
        {stats_path: {**domain.stats, "provenance": prov}},
    )
    return domain.stats
