# Two commands on a fresh machine: `make book` and `make test`.
# Each creates the virtual environment (.venv) and the local MathJax copy when they are missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MATHJAX := _vendor/mathjax/tex-chtml.js
# nbgrader runs helper programs (alembic) by name: the environment's bin comes first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)
ASSIGNMENTS := $(notdir $(wildcard solutions/*))
# `make grade A=01-convolution` works on one assignment; the default is every one of them.
A ?= $(ASSIGNMENTS)

.PHONY: help venv assets book test test-fast release grade feedback export clean

help:
	@echo "make book      build the book with executed chapters into _build/html"
	@echo "make test      run the whole test suite (package, exercises, book)"
	@echo "make test-fast the tests that neither build the book nor run nbgrader"
	@echo "make release   regenerate exercises/ from solutions/ (nbgrader generate_assignment)"
	@echo "make grade     autograde submitted/*/ASSIGNMENT (A=name for one assignment)"
	@echo "make feedback  write feedback/ for the autograded submissions"
	@echo "make export    write grades.csv from the gradebook"
	@echo "make clean     remove the build, the gradebook state and caches (keeps .venv)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

assets: $(MATHJAX)

# MathJax 3 from the npm registry, served by the book itself (no CDN at reading time).
$(MATHJAX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf _vendor/mathjax
	mkdir -p _vendor
	cp -r node_modules/mathjax/es5 _vendor/mathjax
	touch $@

book: $(STAMP) $(MATHJAX)
	$(BIN)/jupyter-book build .
	@echo "The book is in _build/html/index.html"

test: $(STAMP) $(MATHJAX)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

release: $(STAMP)
	for a in $(A); do $(BIN)/nbgrader generate_assignment $$a --force || exit 1; done

grade: $(STAMP)
	for a in $(A); do $(BIN)/nbgrader autograde $$a --create --force || exit 1; done

feedback: $(STAMP)
	for a in $(A); do $(BIN)/nbgrader generate_feedback $$a --force || exit 1; done

export: $(STAMP)
	$(BIN)/nbgrader export --to grades.csv

clean:
	rm -rf _build .pytest_cache gradebook.db autograded feedback grades.csv
	find . -name __pycache__ -not -path "./.venv/*" -prune -exec rm -rf {} +
