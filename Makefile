# The two commands that do all set-up on a fresh machine:
#   make demo   trains the default model on the embedded digits dataset
#   make test   runs the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test docs bench bench-quick golden clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# Graphviz draws `softgrad graph` / softgrad.graph(...).render(); without it they write DOT text only.
	command -v dot >/dev/null || timeout 300 apt-get install -y -qq graphviz >/dev/null 2>&1 \
	  || (timeout 300 apt-get update -qq && timeout 300 apt-get install -y -qq graphviz >/dev/null 2>&1) \
	  || echo "graphviz could not be installed: softgrad graph will write DOT files only"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/softgrad train

test: $(BIN)/.installed
	$(BIN)/python -m pytest

# The documentation site (Sphinx; every gallery example is executed): docs/_build/html/index.html.
$(BIN)/.docs: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $@

docs: $(BIN)/.docs
	$(BIN)/sphinx-build -q -b html docs docs/_build/html
	@echo "The site is in docs/_build/html: open docs/_build/html/index.html"

# Benchmarks against PyTorch / JAX / NumPy (installs the peers into the same venv).
# tinygrad's CPU backend compiles its kernels with clang: installed here when apt-get can (else that peer is
# reported unavailable).
$(BIN)/.bench: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	command -v clang >/dev/null || apt-get install -y -qq clang >/dev/null 2>&1 \
	  || (apt-get update -qq && apt-get install -y -qq clang >/dev/null) \
	  || echo "clang could not be installed: the tinygrad peer will be reported unavailable"
	touch $@

bench: $(BIN)/.bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-quick: $(BIN)/.bench
	$(BIN)/python bench/run.py --quick $(BENCH_ARGS)

# Regenerate the PyTorch golden files in tests/golden/ (needs the bench extra for torch).
golden: $(BIN)/.bench
	$(BIN)/python scripts/make_golden.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
