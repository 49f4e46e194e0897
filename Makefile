# Two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/groundrl demo --out runs/demo

# The HTML report is tested in a real headless browser: Debian's chromium, installed when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo "installing chromium for the report's browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	    echo "warning: could not install chromium; the browser test will be skipped"; }

test: $(VENV)/.installed-dev chromium
	$(BIN)/python -m pytest src tests

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/score_throughput.py
	$(BIN)/python benchmarks/validate_throughput.py
	$(BIN)/python benchmarks/eval_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
