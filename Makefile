# Drive3D -- two commands on a fresh machine:
#   make demo   set everything up, check it, build the synthetic world, train and evaluate MetaBEV
#               on it (clean + sensor failures) and write pictures
#   make test   set everything up and run the test suite (what CI runs)
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= --durations=25

.PHONY: setup demo test test-fast env benchmark clean
setup:
	@bash tools/setup_env.sh

# Environment check -> synthetic world -> infos -> MetaBEV trained, evaluated (devkit + map IoU,
# short robustness study) -> pictures of data and predictions (tools/demo.py).
demo: setup
	@$(PY) tools/demo.py

# Everything (slow learning/build checks included); GPU tests are skipped explicitly without a GPU.
test: setup
	@$(PY) -m pytest tests $(PYTEST_ARGS)

# The quick subset for development.
test-fast: setup
	@$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

env: setup
	@$(PY) tools/collect_env.py

benchmark: setup
	@$(PY) benchmarks/bev_pool.py
	@$(PY) benchmarks/pipeline.py
	@$(PY) benchmarks/metabev.py

clean:
	rm -rf build *.egg-info .pytest_cache mmdet3d_plugin/ops/*/_ext*.so
