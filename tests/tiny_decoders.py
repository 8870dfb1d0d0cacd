"""Tiny random decoder LLMs (Llama, Qwen2) with a locally trained tokenizer, for llm2vec tests.

Nothing comes from the model hub: the BPE tokenizer is trained on a few product titles and the
weights are drawn from a fixed seed, so the folders are identical on every build.
"""

from __future__ import annotations

from pathlib import Path

TITLES = [
    "wireless noise cancelling headphones, black",
    "bluetooth over-ear headphones with microphone",
    "stainless steel insulated water bottle 750 ml",
    "non-slip yoga mat with carrying strap",
    "adjustable dumbbell pair, 2 x 10 kg",
    "organic green tea, 100 bags",
    "cast iron skillet, 12 inch, pre-seasoned",
    "digital multimeter with auto range and 4000 counts",
    "nitrile lab gloves, powder free, size M",
    "borosilicate glass beaker set, 50 to 1000 ml",
    "Please summarize the following item based on the provided information: title",
    "Feature: no feature provided. Description: no description provided",
]
ARCHITECTURES = ("llama", "qwen2")


def build_tiny_decoder(folder: Path, arch: str, seed: int = 0) -> Path:
    """Save a 2-layer decoder of `arch` and its tokenizer into `folder` (about 0.6 MB)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast, Qwen2Config

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<s>", "</s>", "<unk>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TITLES, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        # a bare fast tokenizer would also emit token_type_ids, which the models reject
        model_input_names=["input_ids", "attention_mask"],
    )
    config_class = {"llama": LlamaConfig, "qwen2": Qwen2Config}[arch]
    config = config_class(
        vocab_size=len(hf_tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=hf_tok.bos_token_id,
        eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    hf_tok.save_pretrained(folder)
    return folder
