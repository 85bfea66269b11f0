# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv and install the project into it; nothing relies on what is installed by hand.
# `make demo` installs the package and its runtime dependencies only; `make test` adds the dev
# extra (linters, test tools, the oracles) on top of the same venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORE   := $(VENV)/.core
STAMP  := $(VENV)/.installed
# `make matrix`: the test suite on every supported Python, each in its own .venv-X.Y
# (interpreters found by tools/python_for.sh: on PATH or under pyenv; a missing one fails).
MATRIX ?= 3.10 3.11 3.12 3.13

.PHONY: demo test lint format venv clean bench fuzz load matrix docs

$(CORE): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(CORE)

$(STAMP): $(CORE)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(CORE)
	$(BIN)/python -m sagemaker_rt_async.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# The documentation site, built offline into site/ (strict: warnings are errors); the tests run
# the same build. After a CLI change, regenerate its page: python tools/cli_reference.py.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# CI runs `make test` (the default interpreter, lint included), then this for the others.
matrix:
	@for version in $(MATRIX); do tools/matrix.sh $$version || exit 1; done

# Speed and memory claims, measured against botocore/aiobotocore in the same run (benchmarks/README.md):
# every script once, then one Markdown table of the issue's targets; 3-4 minutes on 2 cores.
# A missed target is reported, not an error; the exit status is 1 only if a benchmark failed.
# Options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--only invoke,import".
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

# The load test at full size (benchmarks/README.md): 10,000 calls at concurrency 256 and 1,000
# concurrent streams, both engines. Not part of `bench`: 1.5-5 minutes on 2 cores.
load: $(STAMP)
	$(BIN)/python benchmarks/load.py --max-seconds 600

# Long fuzz run of the decoders, outside CI: 1,000,000 inputs, about 3 minutes (tools/README.md).
# Extra options through FUZZ_ARGS, e.g. make fuzz FUZZ_ARGS="--jobs 2 --ignore-known-bugs".
fuzz: $(STAMP)
	$(BIN)/python tools/fuzz_long.py $(FUZZ_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-3.* site .mypy_cache .pytest_cache .ruff_cache .hypothesis
