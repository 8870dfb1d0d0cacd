"""Raw Amazon reviews -> chronological item sequences, in memory bounded by the interaction arrays.

Reviews are streamed through pyarrow's JSON reader (no Python object per line); metadata is read
line by line but only the text of items that occur in the reviews is kept.
"""

from __future__ import annotations

import ast
import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from recg.errors import EmptyDomainError, InputError
from recg.io import write_json, write_parquet
from recg.provenance import provenance
from recg.text import DEFAULT_TEMPLATE, ItemFields, clean, render

MIN_SEQUENCE_LENGTH = 3  # one training item, one validation item, one test item


@dataclass(frozen=True)
class RawFormat:
    """Field names of one raw layout; `time_scale` converts its timestamps to milliseconds."""

    user: str
    item: str
    time: str
    time_scale: int
    meta_item: str
    title: str
    features: tuple[str, ...]
    description: str
    brand: tuple[str, ...]
    categories: tuple[str, ...]
    python_literals: bool


FORMATS: dict[str, RawFormat] = {
    "amazon2023": RawFormat(
        user="user_id",
        item="parent_asin",
        time="timestamp",
        time_scale=1,
        meta_item="parent_asin",
        title="title",
        features=("features",),
        description="description",
        brand=("store",),
        categories=("categories",),
        python_literals=False,
    ),
    # Amazon 2018 and 2014 share these names; 2014 metadata lines are Python literals.
    "amazon2018": RawFormat(
        user="reviewerID",
        item="asin",
        time="unixReviewTime",
        time_scale=1000,
        meta_item="asin",
        title="title",
        features=("feature", "features"),
        description="description",
        brand=("brand",),
        categories=("category", "categories"),
        python_literals=True,
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


@dataclass
class Interactions:
    """Columnar interactions in file order; ids index into `users` / `items`."""

    users: list[str]
    items: list[str]
    user: np.ndarray
    item: np.ndarray
    time: np.ndarray
    order: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def take(self, mask: np.ndarray) -> Interactions:
        return Interactions(
            self.users,
            self.items,
            self.user[mask],
            self.item[mask],
            self.time[mask],
            self.order[mask],
        )

    def __len__(self) -> int:
        return len(self.user)


@dataclass
class Domain:
    items: pa.Table
    sequences: pa.Table
    stats: dict[str, Any]


# ---------------------------------------------------------------------------------------- reading


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def _check_exists(path: Path, role: str) -> None:
    if not path.is_file():
        raise InputError(f"{role} file not found: {path}")


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) pairs, turning gzip damage into an InputError."""
    try:
        with _open_text(path) as handle:
            yield from enumerate(handle, start=1)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt gzip file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc})") from exc


def _parse_line(path: Path, lineno: int, line: str, python_literals: bool) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        if not python_literals:
            raise InputError(f"{path}:{lineno}: malformed JSON: {exc.msg}") from exc
        try:
            record = ast.literal_eval(line)
        except (ValueError, SyntaxError) as exc2:
            raise InputError(f"{path}:{lineno}: malformed JSON: {exc.msg}") from exc2
    if not isinstance(record, dict):
        raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
    return record


def _locate_review_problem(path: Path, fmt: RawFormat) -> InputError | None:
    """Find the first line that breaks the review schema, for an error that names it."""
    for lineno, line in _iter_lines(path):
        if not line.strip():
            continue
        record = _parse_line(path, lineno, line, python_literals=False)
        for key, kind in ((fmt.user, str), (fmt.item, str), (fmt.time, int)):
            value = record.get(key)
            if value is None:
                return InputError(f"{path}:{lineno}: missing required field '{key}'")
            if not isinstance(value, kind) or isinstance(value, bool):
                return InputError(
                    f"{path}:{lineno}: field '{key}' must be {kind.__name__}, "
                    f"got {type(value).__name__} {value!r}"
                )
    return None


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
                (self._code(v) for v in chunk.dictionary.to_pylist()),
                dtype=np.int32,
                count=len(chunk.dictionary),
            )
            parts.append(lookup[chunk.indices.to_numpy(zero_copy_only=False)])
        return np.concatenate(parts) if parts else np.empty(0, np.int32)

    def _code(self, value: str) -> int:
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.values)
            self.values.append(value)
        return code


def read_interactions(
    path: str | Path, fmt: RawFormat, min_time_ms: int | None = None
) -> tuple[Interactions, int]:
    """Stream a review file; return interactions at or after `min_time_ms` and the raw count."""
    path = Path(path)
    _check_exists(path, "reviews")
    schema = pa.schema([(fmt.user, pa.string()), (fmt.item, pa.string()), (fmt.time, pa.int64())])
    users, items = _Codebook(), _Codebook()
    user_parts, item_parts, time_parts = [], [], []
    total = 0
    try:
        stream = pa.input_stream(str(path), compression="gzip" if path.suffix == ".gz" else None)
        reader = pj.open_json(
            stream,
            read_options=pj.ReadOptions(block_size=1 << 24),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
        for batch in reader:
            total += batch.num_rows
            columns = [batch.column(name) for name in (fmt.user, fmt.item, fmt.time)]
            if any(col.null_count for col in columns):
                raise _SchemaProblem
            times = columns[2].to_numpy() * fmt.time_scale
            keep = None if min_time_ms is None else times >= min_time_ms
            if keep is not None:
                columns = [col.filter(pa.array(keep)) for col in columns]
                times = times[keep]
            user_parts.append(users.encode(columns[0]))
            item_parts.append(items.encode(columns[1]))
            time_parts.append(times.astype(np.int64))
    except (pa.ArrowInvalid, _SchemaProblem) as exc:
        problem = _locate_review_problem(path, fmt)
        if problem is None:
            raise InputError(f"{path}: cannot read reviews ({exc})") from exc
        raise problem from exc
    except OSError as exc:
        raise InputError(f"{path}: truncated or corrupt file ({exc})") from exc
    user = np.concatenate(user_parts) if user_parts else np.empty(0, np.int32)
    interactions = Interactions(
        users=users.values,
        items=items.values,
        user=user,
        item=np.concatenate(item_parts) if item_parts else np.empty(0, np.int32),
        time=np.concatenate(time_parts) if time_parts else np.empty(0, np.int64),
        order=np.arange(len(user), dtype=np.int64),
    )
    return interactions, total


class _SchemaProblem(Exception):
    pass


def _first_present(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if record.get(key) not in (None, "", []):
            return record[key]
    return None


def read_item_fields(
    path: str | Path, fmt: RawFormat, wanted: dict[str, int], max_chars: int
) -> dict[int, ItemFields]:
    """Text fields of the wanted items (keyed by their code); the first record of an item wins."""
    path = Path(path)
    _check_exists(path, "meta")
    found: dict[int, ItemFields] = {}
    for lineno, line in _iter_lines(path):
        if not line.strip():
            continue
        record = _parse_line(path, lineno, line, fmt.python_literals)
        item_id = record.get(fmt.meta_item)
        if not isinstance(item_id, str) or not item_id:
            raise InputError(f"{path}:{lineno}: missing required field '{fmt.meta_item}'")
        code = wanted.get(item_id)
        if code is None or code in found:
            continue
        found[code] = ItemFields(
            title=clean(record.get(fmt.title), max_chars),
            features=clean(_first_present(record, fmt.features), max_chars),
            description=clean(record.get(fmt.description), max_chars),
            brand=clean(_first_present(record, fmt.brand), max_chars),
            categories=clean(_first_present(record, fmt.categories), max_chars),
        )
    return found


# -------------------------------------------------------------------------------------- filtering


def dedupe_first(inter: Interactions) -> Interactions:
    """Keep each user's earliest interaction with an item (ties: first in the file)."""
    order = np.lexsort((inter.order, inter.time, inter.item, inter.user))
    u, i = inter.user[order], inter.item[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    keep = np.zeros(len(order), dtype=bool)
    keep[order[first]] = True
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
        ok = keep & (user_count[inter.user] >= k) & (item_count[inter.item] >= k)
        if ok.sum() == keep.sum():
            break
        keep = ok
        rounds += 1
        if not iterative:
            break
    return inter.take(keep), rounds


def _counts(inter: Interactions) -> dict[str, int]:
    return {
        "interactions": len(inter),
        "users": len(np.unique(inter.user)),
        "items": len(np.unique(inter.item)),
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
    inter, raw_total = read_interactions(spec.reviews, fmt, min_time)
    log(f"{spec.name}: read {raw_total:,} reviews from {spec.reviews}")
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

    codes = {asin: code for code, asin in enumerate(inter.items)}
    fields = read_item_fields(spec.meta, fmt, codes, spec.max_field_chars)
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
    log(
        f"{spec.name}: {stats['users']:,} users, {stats['items']:,} items, "
        f"{stats['interactions']:,} interactions"
    )
    return Domain(items=items, sequences=sequences, stats=stats)


def _build_tables(
    inter: Interactions, fields: dict[int, ItemFields], template: str
) -> tuple[pa.Table, pa.Table]:
    """Number items 1..N by ASIN (0 is padding) and users by id; order each sequence by time."""
    item_codes = np.unique(inter.item)
    asins = np.array([inter.items[c] for c in item_codes], dtype=object)
    by_asin = np.argsort(asins, kind="stable")
    item_idx = np.zeros(len(inter.items), dtype=np.int32)
    item_idx[item_codes[by_asin]] = np.arange(1, len(item_codes) + 1, dtype=np.int32)
    ordered_codes = item_codes[by_asin]
    items = pa.table(
        {
            "item_idx": pa.array(np.arange(1, len(item_codes) + 1, dtype=np.int32)),
            "parent_asin": pa.array(asins[by_asin].tolist(), pa.string()),
            "title": pa.array([fields[c].title for c in ordered_codes], pa.string()),
            "text": pa.array([render(fields[c], template) for c in ordered_codes], pa.string()),
        }
    )

    user_codes = np.unique(inter.user)
    user_names = np.array([inter.users[c] for c in user_codes], dtype=object)
    user_rank = np.zeros(len(inter.users), dtype=np.int64)
    user_rank[user_codes[np.argsort(user_names, kind="stable")]] = np.arange(len(user_codes))
    rank = user_rank[inter.user]
    order = np.lexsort((inter.order, inter.time, rank))
    offsets = np.zeros(len(user_codes) + 1, dtype=np.int32)
    np.cumsum(np.bincount(rank, minlength=len(user_codes)), out=offsets[1:])
    sequences = pa.table(
        {
            "user_id": pa.array(np.sort(user_names).tolist(), pa.string()),
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
    """Run `preprocess` and write its three outputs, each carrying its provenance."""
    domain = preprocess(spec, log)
    prov = {"domain": spec.name, **provenance(asdict(spec))}
    write_parquet(domain.items, items_path, prov)
    write_parquet(domain.sequences, sequences_path, prov)
    write_json({**domain.stats, "provenance": prov}, stats_path)
    return domain.stats
