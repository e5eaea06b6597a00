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
A ?=
# Students graded at a time by `make grade` (default: the number of cores).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: help venv assets book test test-fast release grade feedback export bench-grading clean reset-grading

help:
	@echo "make book      build the book with executed chapters into _build/html"
	@echo "make test      run the whole test suite (package, exercises, book)"
	@echo "make test-fast the tests that neither build the book nor run nbgrader"
	@echo "make release   regenerate exercises/ from solutions/ (a refused release changes nothing)"
	@echo "make grade     autograde submitted/*/ASSIGNMENT, sandboxed, JOBS=N at a time (A=name for one)"
	@echo "make feedback  write feedback/ pages (no hidden tests, local MathJax)"
	@echo "make export    write grades.csv (status, flags, timestamp; earlier exports kept in reports/)"
	@echo "make clean     remove the book build and caches (never the grading state)"
	@echo "make reset-grading  move the grading state to backups/ after confirmation (new term)"

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

# The package is byte-compiled first: every grading kernel and every chapter imports it, and where
# PYTHONDONTWRITEBYTECODE is set (as in some CI images) Python would compile it again each time.
test: $(STAMP) $(MATHJAX)
	$(BIN)/python -m compileall -q cnncourse
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

release: $(STAMP)
	$(BIN)/python -m cnncourse.grading release $(A)

grade: $(STAMP) $(MATHJAX)
	$(BIN)/python -m cnncourse.grading grade $(A) --jobs $(JOBS)

feedback: $(STAMP) $(MATHJAX)
	$(BIN)/python -m cnncourse.grading feedback $(A)

export: $(STAMP)
	$(BIN)/python -m cnncourse.grading export --to grades.csv

bench-grading: $(STAMP)
	$(BIN)/python -m cnncourse.bench grading --students 50 300

# Build outputs and caches only: the gradebook, autograded/, feedback/, reports/ and grades.csv
# are the instructor's and are never removed by `make clean`.
clean:
	rm -rf _build .pytest_cache
	find . -name __pycache__ -not -path "./.venv/*" -prune -exec rm -rf {} +

# Start a new term: MOVE (never delete) the grading state into backups/grading-<time>/, after
# typing "yes". Nothing is lost; the files can be moved back.
reset-grading:
	@printf 'Move gradebook.db, autograded/, feedback/, reports/ and grades.csv into backups/? Type yes: '; \
	read answer; [ "$$answer" = yes ] || { echo "Nothing moved."; exit 1; }; \
	dest=backups/grading-$$(date +%Y%m%d-%H%M%S); mkdir -p $$dest; \
	for f in gradebook.db autograded feedback reports grades.csv; do [ -e $$f ] && mv $$f $$dest/; done; \
	echo "Moved to $$dest"
