# Two commands on a fresh machine: `make run` (set up + default job) and `make test` (set up + tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0
comma := ,

.PHONY: venv run test lint bench bench-blackbox bench-blackbox-paper bench-explainers bench-timesae bench-sanity bench-synthetic bench-ucr bench-report report clean

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

# Each benchmark is a sweep of sweeps/ run into a fixed folder, bench_results/sweeps/<table>/<sweep> (a re-run moves
# a job's earlier results to its previous/), then the comparison report of bench_results/sweeps/<table>: report.md
# and report.html in bench_results/<table>, its tables into README.md between <!-- bench:<table> --> and
# <!-- /bench:<table> -->. ARGS are appended to every sweep (e.g. ARGS="hydra/launcher=joblib" or "seed=0");
# a failed job does not stop the report (it lists it). One intra-op thread a job (BENCH_THREADS).
BENCH_ROOT ?= bench_results
BENCH_README ?= README.md
BENCH_THREADS ?= 1
BENCH_ENV = OMP_NUM_THREADS=$(BENCH_THREADS) MKL_NUM_THREADS=$(BENCH_THREADS) WANDB_MODE=offline
# $(call bench_sweep,<table>,<sweep>,<folder>,<overrides>)
bench_sweep = $(BENCH_ENV) $(PY) run.py -m 'sweep=$(2)' hydra.sweep.dir=$(BENCH_ROOT)/sweeps/$(1)/$(3) $(4) $(ARGS)
# $(call bench_report,<table>,<report options>)
bench_report = $(PY) -m tsexplain.report $(BENCH_ROOT)/sweeps/$(1) --out $(BENCH_ROOT)/$(1) \
  --readme $(BENCH_README) --marker $(1) $(2)
BENCH_METRICS_EXPLAIN := explain/auprc explain/aup explain/aur explain/pooled_auprc explain/del_drop20 \
  explain/del_auc explain/ms_per_instance test/f1
BENCH_METRICS_SANITY := explain/auprc explain/rand_spearman_all explain/rand_spearman_cascade/head \
  explain/rand_spearman_cascade/transformer explain/infidelity explain/sensitivity_max explain/ms_per_instance \
  explain/sanity_s test/f1
BENCH_METRICS_TIMESAE := explain/auprc explain/aup explain/aur explain_footprint/auprc explain/del_drop20 \
  explain/rand_spearman_all explain/infidelity explain/ms_per_instance explain/faithfulness_fx \
  explain/label_fidelity explain/fvu explain/l0 explain/dead_fraction explain/fit_s test/f1
BENCH_METRICS_SYNTHETIC := test/f1 explain/auprc explain/aup explain/aur explain/del_drop20 explain/rand_spearman_all \
  explain/infidelity explain/ms_per_instance explain/fit_s explain_footprint/auprc explain_effect_insertion/auprc \
  explain/fvu explain/dead_fraction \
  explain/l0 explain/faithfulness_fx
BENCH_METRICS_UCR := test/acc test/f1 explain/del_drop20 explain/del_auc explain/ins_auc explain/rand_spearman_all \
  explain/infidelity explain/ms_per_instance

bench-blackbox: $(STAMP)
	-$(call bench_sweep,blackbox,benchmark_blackbox,benchmark_blackbox)
	$(call bench_report,blackbox,--metrics test/acc test/f1)

# TimeX's own schedules for the transformer (SeqComb-MV alone is ~5 h a seed on 2 CPU cores)
bench-blackbox-paper: $(STAMP)
	-$(call bench_sweep,blackbox_paper,benchmark_blackbox_paper,benchmark_blackbox_paper)
	$(call bench_report,blackbox_paper,--metrics test/acc test/f1)

bench-explainers: $(STAMP)
	-$(call bench_sweep,explainers,benchmark_explainers,benchmark_explainers)
	-$(call bench_sweep,narrators,benchmark_narrators,benchmark_narrators)
	$(call bench_report,explainers,--metrics $(BENCH_METRICS_EXPLAIN))
	$(call bench_report,narrators,--metrics narrate/bleu4 narrate/rougeL_f narrate/fallback_rate test/f1)

bench-sanity: $(STAMP)
	-$(call bench_sweep,sanity,benchmark_sanity,benchmark_sanity)
	$(call bench_report,sanity,--metrics $(BENCH_METRICS_SANITY))

# TimeSAE's time per instance at equal conditions (same black box, samples, batch, one thread) is measured outside
# the sweep jobs: benchmarks/timesae_speed.py, reading the benchmark_timesae runs.
bench-timesae: $(STAMP)
	-$(call bench_sweep,timesae,benchmark_timesae,benchmark_timesae)
	-$(call bench_sweep,timesae,ablation_timesae,ablation_timesae)
	$(call bench_report,timesae,--metrics $(BENCH_METRICS_TIMESAE))
	$(BENCH_ENV) $(PY) benchmarks/timesae_speed.py $(BENCH_ROOT)/sweeps/timesae --out $(BENCH_ROOT)/timesae_speed.md \
	  --readme $(BENCH_README) --marker timesae_speed

# The whole synthetic benchmark (issue 13): 4 sets × {transformer, resnet_tf} × 7 explainers × 3 seeds, and fusion on
# resnet_tf; ARGS="hydra/launcher=joblib" runs 2 jobs at once.
bench-synthetic: $(STAMP)
	-$(call bench_sweep,synthetic,benchmark_synthetic,benchmark_synthetic)
	-$(call bench_sweep,synthetic,[benchmark_synthetic$(comma)fusion_arm],benchmark_synthetic_fusion)
	$(call bench_report,synthetic,--metrics $(BENCH_METRICS_SYNTHETIC))

bench-ucr: $(STAMP)
	-$(call bench_sweep,ucr,benchmark_real,benchmark_real)
	-$(call bench_sweep,ucr,[benchmark_real$(comma)fusion_arm],benchmark_real_fusion)
	$(call bench_report,ucr,--metrics $(BENCH_METRICS_UCR))

# Rewrite the README's tables from the runs already in bench_results/sweeps (no job is started): a table whose
# sweeps have not run is left as it is.
bench-report: $(STAMP)
	@for t in blackbox explainers narrators sanity timesae synthetic ucr; do \
	  test -d $(BENCH_ROOT)/sweeps/$$t || echo "bench-report: no $(BENCH_ROOT)/sweeps/$$t, its table is left as it is"; \
	done
	test ! -d $(BENCH_ROOT)/sweeps/blackbox || $(call bench_report,blackbox,--metrics test/acc test/f1)
	test ! -d $(BENCH_ROOT)/sweeps/explainers || $(call bench_report,explainers,--metrics $(BENCH_METRICS_EXPLAIN))
	test ! -d $(BENCH_ROOT)/sweeps/narrators || $(call bench_report,narrators,--metrics narrate/bleu4 narrate/rougeL_f narrate/fallback_rate test/f1)
	test ! -d $(BENCH_ROOT)/sweeps/sanity || $(call bench_report,sanity,--metrics $(BENCH_METRICS_SANITY))
	test ! -d $(BENCH_ROOT)/sweeps/timesae || $(call bench_report,timesae,--metrics $(BENCH_METRICS_TIMESAE))
	test ! -d $(BENCH_ROOT)/sweeps/synthetic || $(call bench_report,synthetic,--metrics $(BENCH_METRICS_SYNTHETIC))
	test ! -d $(BENCH_ROOT)/sweeps/ucr || $(call bench_report,ucr,--metrics $(BENCH_METRICS_UCR))

# Comparison report of a sweep or runs folder: make report DIR=logs/<task>/multiruns/<time> [ARGS="--by dataset explainer"]
# (report.md + report.html in DIR/report; python -m tsexplain.report --help lists the options)
report: $(STAMP)
	@test -n "$(DIR)" || { echo "usage: make report DIR=<multirun or runs folder> [ARGS=...]" >&2; exit 2; }
	$(PY) -m tsexplain.report $(DIR) $(ARGS)

clean:
	rm -rf logs outputs multirun .pytest_cache
