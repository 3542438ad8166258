# The two commands of the README's quick start. Each sets up .venv on first use (a Python >= 3.12
# found by scripts/find-python, packages pinned by constraints.txt), then runs.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: reproduce test test-slow lint bench bench-engines bench-engines-check setup tools \
	validate-sbc validate-coverage

setup:
	@scripts/setup-venv

reproduce: setup
	@scripts/setup-tools fonts
	$(BIN)/grassroots reproduce

# The Chinese figures' font, and LaTeX for the tests that compile the .tex tables
# (scripts/setup-tools; fast when installed). reproduce needs only the font.
tools:
	@scripts/setup-tools all

test: setup tools
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check src tests benchmarks analysis

bench: setup
	$(BIN)/python benchmarks/simulate_national.py

# The engine benchmark (grassroots, plain PyMC, numpyro, Stan) runs in its own .venv-bench: pystan
# and JAX stay out of the package's environment.
BENCH_ENGINES_ARGS ?= --sizes small,bundled
bench-engines-check:
	@scripts/setup-bench-venv
	nice -n 5 .venv-bench/bin/python benchmarks/engines/run.py --check $(BENCH_ENGINES_ARGS)

bench-engines: bench-engines-check
	nice -n 5 .venv-bench/bin/python benchmarks/engines/run.py $(BENCH_ENGINES_ARGS)

# The validation studies (reports/validation/README.md): hours of sampling, resumable, on a local
# Dask cluster; VALIDATION_ARGS="--scheduler ADDRESS" runs them on an existing one.
VALIDATION_ARGS ?= --workers 2
validate-sbc: setup
	nice -n 10 $(BIN)/python analysis/validation/sbc.py --simulations 200 $(VALIDATION_ARGS)

validate-coverage: setup
	nice -n 10 $(BIN)/python analysis/validation/coverage_study.py --replicates 100 $(VALIDATION_ARGS)
