# Two entry points for a fresh machine: `make serve` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: venv serve test lint bench clean pywb-venv

$(BIN)/citevault: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/citevault

# pywb (full-fidelity replay, fed by our /cdx) pins redis==2.10.6, so it gets its own venv.
pywb-venv: .venv-pywb/bin/wayback

.venv-pywb/bin/wayback:
	$(PYTHON) -m venv .venv-pywb
	.venv-pywb/bin/pip install --quiet pywb

serve: venv
	$(BIN)/citevault serve

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src crawler storage tests
	$(BIN)/mypy src/citevault crawler storage

bench: venv pywb-venv
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
