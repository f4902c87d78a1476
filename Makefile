# One command file for everyone: the README, .ci/run and contributors call these targets.
# Everything installs into ./.venv, so a fresh machine needs only python3, cargo and this file.

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup build build-release wheel demo test test-rust test-python lint bench bench-quick soak clean-logs

$(VENV)/.deps: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "maturin>=1.9.4,<2" "dspy==3.4.1" "pyyaml>=6" "fastapi>=0.110" pytest pytest-timeout httpx pexpect prometheus-client "schemathesis>=3.30,<5"
	touch $@

setup: $(VENV)/.deps

build: setup
	$(VENV)/bin/maturin develop -q

build-release: setup
	$(VENV)/bin/maturin develop -q --release

## The abi3 wheel (CPython 3.10+, one per OS/arch) into dist/, to install into a project.
## WHEEL_PROFILE= (empty) builds it unoptimized, as tests/scaffold/test_wheel_install.py does.
WHEEL_PROFILE ?= --release
DIST ?= dist
wheel: setup
	$(VENV)/bin/maturin build -q $(WHEEL_PROFILE) --out $(DIST)

## Serve the example project offline, against the built-in mock LM.
demo: build-release
	cd examples/qa-service && exec ../../$(VENV)/bin/dspy-cli serve --system --mock-lm --port $(PORT)

test-rust:
	cargo test -q

test-python: build
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

## Everything CI runs.
test: setup test-rust test-python

lint:
	cargo fmt --check
	cargo clippy --all-targets -q -- -D warnings

## Benchmark against dspy-cli 0.1.13 and the FastAPI recipe (bench/README.md); BENCH_ARGS="--full" for the matrix.
BENCH_ARGS ?=
bench: build-release
	$(PY) bench/run.py $(BENCH_ARGS)

## Short benchmark smoke run (ours only, ~1 min): what CI runs so the harness cannot rot.
bench-quick: build-release
	$(PY) bench/run.py --quick $(BENCH_ARGS)

## Soak: 1,000,000 no-LM requests against one server; RSS and p99 must not drift (bench/README.md). Not in `make test`.
SOAK_ARGS ?=
soak: build-release
	$(PY) bench/soak.py $(SOAK_ARGS)
