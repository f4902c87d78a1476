# One command file for everyone: the README, .ci/run and contributors call these targets.
# Everything installs into ./.venv, so a fresh machine needs only python3, cargo and this file.

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup build build-release wheel demo test test-rust test-python format lint lint-rust lint-python bench bench-quick profile soak clean-logs

$(VENV)/.deps: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --group dev
	touch $@

setup: $(VENV)/.deps

## Browser tests (tests/browser.py): the playwright package drives the system's chromium
## (Debian's package; playwright's own browser download is never used).
CHROMIUM ?= /usr/bin/chromium
$(VENV)/.browser: $(VENV)/.deps pyproject.toml
	$(PIP) install -q --group browser
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "chromium not found at $(CHROMIUM): installing the chromium package with apt-get"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
			echo "error: cannot install chromium (not root and no sudo). Install it (apt-get install chromium) or set CHROMIUM=/path/to/chromium." >&2; exit 1; fi; \
		{ $$SUDO apt-get update -q && $$SUDO apt-get install -y chromium; } || { echo "error: apt-get install chromium failed; install chromium yourself or set CHROMIUM=/path/to/chromium." >&2; exit 1; }; \
	fi
	touch $@

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

test-python: build $(VENV)/.browser
	DSPY_TEST_CHROMIUM=$(CHROMIUM) $(VENV)/bin/pytest -q $(PYTEST_ARGS)

## Everything CI runs.
test: setup test-rust test-python

## Every lint CI runs (see the README's "Lints").
lint: lint-rust lint-python

## cargo-machete (unused crates) is built once into a repo-local root, versioned here.
MACHETE_VERSION := 0.9.2
TOOLS := .tools
MACHETE := $(TOOLS)/bin/cargo-machete
$(MACHETE):
	cargo install -q --locked cargo-machete --version $(MACHETE_VERSION) --root $(TOOLS)

lint-rust: $(MACHETE)
	cargo fmt --check
	cargo clippy --all-targets --locked -q -- -D warnings
	$(MACHETE)

PY_LINTED := python tests bench

## Fix what the formatters and ruff's safe fixes can (then `make lint` for the rest).
format: setup
	cargo fmt
	$(VENV)/bin/ruff format $(PY_LINTED)
	$(VENV)/bin/ruff check --fix $(PY_LINTED)

## stubtest imports the built module, so this needs `make build` first.
lint-python: build
	$(VENV)/bin/ruff check $(PY_LINTED)
	$(VENV)/bin/ruff format --check $(PY_LINTED)
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest dspy_cli._native

## Benchmark against dspy-cli 0.1.13 and the FastAPI recipe (bench/README.md); BENCH_ARGS="--full" for the matrix.
BENCH_ARGS ?=
bench: build-release
	$(PY) bench/run.py $(BENCH_ARGS)

## Short benchmark smoke run (ours only, ~1 min): what CI runs so the harness cannot rot.
bench-quick: build-release
	$(PY) bench/run.py --quick $(BENCH_ARGS)

## Where our server's CPU goes per request: py-spy flame graphs (SVG) and a table by phase (bench/README.md, "Profile").
PROFILE_ARGS ?= --servers ours --scenarios sync,async,nolm --duration 5 --reps 1 --no-floor
profile: build-release
	$(PY) bench/run.py --profile $(PROFILE_ARGS)

## Soak: 1,000,000 no-LM requests against one server; RSS and p99 must not drift (bench/README.md). Not in `make test`.
SOAK_ARGS ?=
soak: build-release
	$(PY) bench/soak.py $(SOAK_ARGS)
