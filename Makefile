# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv and install the project into it; nothing relies on what is installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format venv clean bench fuzz load

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sagemaker_rt_async.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

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
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
