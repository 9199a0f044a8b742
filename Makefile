# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# pytest workers (pytest-xdist), each torch on one thread; one file per worker at a time (its module fixtures once)
TEST_WORKERS ?= 2

.PHONY: install install-dev demo test lint clean docs-cli

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# The CPU build of torch first: an unpinned torch would pull a CUDA build of several GB.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(PY) -m memorag.demo

test: install-dev
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) stores

docs-cli: install
	{ echo "# memorag CLI"; echo; echo "The \`--help\` of every command, as printed by the code (regenerate with \`make docs-cli\`)."; \
	  for c in "" memorize ask recall summarize info "docs list" "docs delete" "docs replace" "cache info" "cache clear" serve eval train "train split" "train build-data" "train build-selfsup" "train sft" "train rlgf" "train pointer"; do echo; echo "## memorag $$c" | sed 's/ $$//'; echo; echo '```'; \
	  COLUMNS=110 $(VENV)/bin/memorag $$c --help; echo '```'; done; } > docs/cli.md
