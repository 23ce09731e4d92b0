# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Prefect keeps its state (ephemeral database, logs) inside the project, ignored by git.
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: run test bench mutate server stop cluster cluster-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

## run: install, write sample data if data/raw/ is empty, run the nightly job (no server)
run: $(STAMP)
	@mkdir -p $(PREFECT_HOME)
	@if [ -z "$$(find data/raw -mindepth 1 ! -name .gitkeep -print -quit)" ]; then \
		echo "data/raw/ is empty: writing sample data"; $(BIN)/segment sample-data; fi
	$(BIN)/segment run nightly

## test: install with test extras, run the whole test suite (two workers: much of it waits on
## Prefect servers and subprocesses, so two processes keep both cores busy; whole files per
## worker, the slowest first: tests/conftest.py orders them)
test: $(STAMP)
	@mkdir -p $(PREFECT_HOME)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

## bench: customer and LCL-scale meter benchmarks, the nightly increment at 365 and 730 days,
## the meter flow on a local Dask cluster against local execution (1x and 2x London scale),
## CC_GENERAL with a core taken; on the real
## sets assign vs run, every algorithm and the comparison (not part of the tests)
bench: $(STAMP)
	@mkdir -p $(PREFECT_HOME)
	$(BIN)/python bench/bench_customers.py
	$(BIN)/python bench/bench_meters.py
	$(BIN)/python bench/bench_nightly.py
	$(BIN)/python bench/bench_dask.py
	$(BIN)/python bench/bench_transactions.py
	$(BIN)/python bench/bench_contention.py
	$(BIN)/python bench/bench_assign.py
	$(BIN)/python bench/bench_algorithms.py
	$(BIN)/python bench/bench_line_checks.py

## server / stop: local Prefect server, work pool, deployments, worker
server: $(STAMP)
	@mkdir -p $(PREFECT_HOME)
	bash deploy/server.sh start

stop:
	bash deploy/server.sh stop

## cluster / cluster-stop: a local Dask scheduler and two workers on 127.0.0.1:8786, for
## `segment run meters --dask-address tcp://127.0.0.1:8786` (docs/dask.md)
cluster: $(STAMP)
	bash deploy/cluster.sh start

cluster-stop:
	bash deploy/cluster.sh stop

clean:
	rm -rf $(VENV) .prefect .pytest_cache

## mutate: mutation testing of the domain modules (slow, not in CI); one module in minutes with
## `make mutate MODULE=segmentation.meters.features` (mutmut keeps results of unchanged code)
mutate: $(STAMP)
	@mkdir -p $(PREFECT_HOME) bench/results
	$(BIN)/pip install --quiet -e ".[test,mutate]"
	SEGMENT_SHARED_DATA=$(abspath ../shared/data) $(BIN)/mutmut run --max-children 2 $(if $(MODULE),"$(MODULE).x*") || true
	$(BIN)/mutmut results --all true > bench/results/mutants.txt || true
	$(BIN)/python bench/mutation_summary.py bench/results/mutants.txt $(MODULE)
