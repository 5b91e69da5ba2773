# Two entry points: `make demo` and `make test`. Both create .venv on first use.
# `make test` runs the static checks (`make lint`: ruff, then mypy) before the test suite.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,plot]'
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

demo: install
	$(BIN)/bftlab run configs/pbft-quickstart.yaml --out results/quickstart

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# The simulator's tests are deterministic and CPU-bound: two workers share them. The real transport's
# tests time real processes over loopback, so they run afterwards, alone.
test: lint
	$(BIN)/python -m pytest -n 2 --ignore=tests/transport
	$(BIN)/python -m pytest tests/transport

bench: install
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis .mypy_cache .ruff_cache
