# Two commands do all the set-up on a fresh clone: `make search` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

ARGS ?= --space lite

.PHONY: search test test-fast test-slow lint clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

search: $(STAMP)
	$(BIN)/python run_search.py $(ARGS)

# Both tiers: tests/fast imports no TensorFlow (seconds); the rest trains tiny models.
test: test-fast test-slow

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q tests/fast

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q tests --ignore=tests/fast

lint: $(STAMP)
	$(BIN)/ruff check search tests run_search.py benchmarks

clean-venv:
	rm -rf $(VENV)
