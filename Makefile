# JMedSeg-JT: `make demo` trains and tests UNet on the synthetic demo set; `make test` runs the test suite.
# Both install what they need first (scripts/setup.sh, idempotent).
VENV ?= $(HOME)/.venvs/jmedseg-jt
PY := $(VENV)/bin/python
export JMEDSEG_VENV := $(VENV)

.PHONY: setup setup-torch demo test test-slow bench clean

setup:
	@bash scripts/setup.sh

setup-torch:
	@JMEDSEG_TORCH=1 bash scripts/setup.sh

demo: setup
	$(PY) run.py --model unet --dataset demo --mode train -e 8 -b 4 -l 1e-3

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

bench: setup
	$(PY) bench/bench_onednn.py

clean:
	rm -rf checkpoints result test_performance data/data-demo .pytest_cache
