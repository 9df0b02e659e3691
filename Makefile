# Two entry points, both self-contained on a fresh machine with Python 3.11:
#   make repro   set up .venv if needed, then run the whole DVC pipeline
#   make test    set up .venv if needed, then run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Stage commands say `python` and `torchrun`: they must be the venv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: repro test lint bench clean-venv

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch/torchvision come from the pins in pyproject.toml (see README: Installation).
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

repro: $(STAMP)
	$(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src stages tests benchmarks
	$(BIN)/ruff format --check src stages tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_read.py
	$(BIN)/python benchmarks/bench_score.py
	$(BIN)/python benchmarks/bench_methods.py
	$(BIN)/python benchmarks/bench_dense_stages.py
	$(BIN)/python benchmarks/bench_networks.py

clean-venv:
	rm -rf $(VENV)
