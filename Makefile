# JMedSeg-JT: `make demo` trains and tests UNet on the synthetic demo set; `make test` runs the test suite.
# Both install what they need first (scripts/setup.sh, idempotent).
VENV ?= $(HOME)/.venvs/jmedseg-jt
PY := $(VENV)/bin/python
export JMEDSEG_VENV := $(VENV)

# `make reproduce`: pretrain.sh, train.sh and batch_test.sh on DATASET (pancreas by default: the original's table).
# CPU by default; CUDA=--cuda for a GPU. Other variables of the scripts pass through (EPOCHS, MODELS, IMG_SIZE, ...).
DATASET ?= pancreas
CUDA ?=
export DATASET CUDA

.PHONY: setup setup-torch demo serve test test-slow bench gpu-check reproduce clean

setup:
	@bash scripts/setup.sh

setup-torch:
	@JMEDSEG_TORCH=1 bash scripts/setup.sh

demo: setup
	$(PY) run.py --model unet --dataset demo --mode train -e 8 -b 4 -l 1e-3

# The web demo on http://127.0.0.1:$(PORT) (this machine only), over this folder's checkpoints and results.
PORT ?= 5000
serve: setup
	FLASK_APP=app.py $(PY) -m flask run -p $(PORT)

# The tests include the PyTorch weight-import and parity checks, so `make test` installs torch (CPU build) too.
test: setup-torch
	$(PY) -m pytest -q

test-slow: setup-torch
	$(PY) -m pytest -q -m slow

bench: setup
	$(PY) bench/bench_onednn.py

# On a machine with CUDA: tests/cuda and Jittor vs PyTorch on the GPU -> bench/results/gpu_check.md
gpu-check:
	PYTHON=$(PY) bash bench/gpu_check.sh

reproduce: setup
	PYTHON=$(PY) bash pretrain.sh
	PYTHON=$(PY) bash train.sh
	PYTHON=$(PY) bash batch_test.sh

clean:
	rm -rf checkpoints result test_performance data/data-demo .pytest_cache
