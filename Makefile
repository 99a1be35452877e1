# The two commands a new user needs: `make run` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG ?= config.yaml

.PHONY: install run smoke test lint format bench docs-figures clean

$(STAMP): envs/requirements.txt envs/requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r envs/requirements.txt
	$(BIN)/python -m pip install -q --no-deps -r envs/requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Run the default configuration (config.yaml): figures land in results/figures/.
run: install
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)

## The smoke configuration: the whole DAG in about 1.5 minutes.
smoke: install
	$(BIN)/snakemake --cores $(CORES) --configfile workflow/configs/smoke.yaml

## The whole test suite (includes lint checks and a smoke run of the workflow).
test: install
	$(BIN)/python -m pytest

## The workflow on a local single-node SLURM cluster with a fake GPU (root; installs slurm and munge
## with apt-get, the executor plugin into the venv; ~5 minutes). See tests/slurm/run_slurm_test.sh.
.PHONY: test-slurm
test-slurm: install
	$(BIN)/python -m pip install -q -r envs/requirements-cluster.txt
	VENV=$(abspath $(VENV)) bash tests/slurm/run_slurm_test.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules

## Reference vs engine backends side by side (results/bench/engine.json), then whole jobs of the default's
## shapes as Snakemake runs them (results/bench/jobs.json; progdistill/jobbench.py).
bench: install
	$(BIN)/python -m progdistill.bench

## The same on a CUDA device (torch backend): results/bench/engine_cuda.json. Needs a GPU.
.PHONY: bench-gpu
bench-gpu: install
	$(BIN)/python -m progdistill.bench --device cuda --threads 1 --out results/bench/engine_cuda.json

## Copy the default run's figures (small PNGs) into docs/ for the README.
docs-figures:
	mkdir -p docs/figures
	cp results/figures/*.png docs/figures/

clean:
	rm -rf results/* .snakemake
	touch results/.gitkeep
