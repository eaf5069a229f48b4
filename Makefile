# Two entry points for a fresh machine: `make serve` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: venv serve test lint bench clean

$(BIN)/citevault: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/citevault

serve: venv
	$(BIN)/citevault serve

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src crawler storage tests
	$(BIN)/mypy src/citevault crawler storage

bench: venv
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info
