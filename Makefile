# Two commands on a fresh machine: `make run` (set up + default job) and `make test` (set up + tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0

.PHONY: venv run test lint bench bench-blackbox bench-explainers bench-timesae bench-sanity bench-ucr bench-report report clean

venv: $(STAMP)

# Torch first, pinned: the CPU build where no GPU is present (an unpinned torch pulls a multi-GB CUDA
# build), the registry's CUDA build where `nvidia-smi` sees a GPU.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  PIP_FIND_LINKS= $(PY) -m pip install -q torch==$(TORCH_VERSION); \
	else \
	  $(PY) -m pip install -q "torch==$(TORCH_VERSION)+cpu" 2>/dev/null || $(PY) -m pip install -q torch==$(TORCH_VERSION); \
	fi
	$(PY) -m pip install -q -e ".[dev,cluster]"  # cluster: the joblib/SLURM launchers, tested with submitit locally
	# hydra-optuna-sweeper (older set-ups) registers hydra/sweeper=optuna too and needs optuna<3: ours replaces it
	$(PY) -m pip uninstall -q -y hydra-optuna-sweeper 2>/dev/null || true
	touch $(STAMP)

# The embedded default: synthetic FreqShapes, resnet_tf black box, fusion explainer, template narratives, CPU.
run: $(STAMP)
	$(PY) run.py $(ARGS)

# Lint first (ruff, as `make lint`), then the suite.
test: $(STAMP)
	$(VENV)/bin/ruff check src tests run.py benchmarks
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests run.py benchmarks

bench: bench-blackbox bench-explainers bench-timesae

bench-blackbox: $(STAMP)
	$(PY) -m benchmarks.blackbox

bench-explainers: $(STAMP)
	$(PY) -m benchmarks.explainers

bench-ucr: $(STAMP)
	$(PY) -m benchmarks.ucr

bench-sanity: $(STAMP)
	$(PY) -m benchmarks.sanity

bench-timesae: $(STAMP)
	$(PY) -m benchmarks.timesae
	$(PY) -m benchmarks.timesae_speed

# Rewrite the three tables from the finished benchmark runs only (no job is started).
bench-report: $(STAMP)
	BENCH_ONLY_FINISHED=1 $(PY) -m benchmarks.blackbox
	BENCH_ONLY_FINISHED=1 $(PY) -m benchmarks.explainers
	BENCH_ONLY_FINISHED=1 $(PY) -m benchmarks.timesae
	BENCH_ONLY_FINISHED=1 $(PY) -m benchmarks.sanity
	$(PY) -m benchmarks.readme_tables

# Comparison report of a sweep or runs folder: make report DIR=logs/<task>/multiruns/<time> [ARGS="--by dataset explainer"]
# (report.md + report.html in DIR/report; python -m tsexplain.report --help lists the options)
report: $(STAMP)
	@test -n "$(DIR)" || { echo "usage: make report DIR=<multirun or runs folder> [ARGS=...]" >&2; exit 2; }
	$(PY) -m tsexplain.report $(DIR) $(ARGS)

clean:
	rm -rf logs outputs multirun .pytest_cache
