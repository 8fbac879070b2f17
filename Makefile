# The two commands: `make lab` (set up, open the course) and `make test` (set up, run every test).
# Everything is installed into .venv/ from requirements.txt + constraints.txt.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
ASSIGNMENTS := $(notdir $(wildcard source/[0-9][0-9]_*))

# nbgrader runs helpers such as `alembic` from the environment's bin/: keep it first on PATH.
export PATH := $(BIN):$(PATH)
# Headless plotting for tests; JupyterLab sets its own backend.
export MPLBACKEND ?= Agg

.PHONY: setup sandbox lab test test-fast release samples demo bench clean help

help:
	@echo "make lab      set up and open JupyterLab on release/ (the student's view)"
	@echo "make test     set up and run every test"
	@echo "make release  regenerate release/ from source/ with nbgrader"
	@echo "make demo     grade the sample class in demo-course/ and write its report"
	@echo "make bench    time our grade command against plain nbgrader autograde (minutes)"
	@echo "make clean    remove the environment and nbgrader's working folders"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/jupyter labextension list 2>&1 | grep -q nbgrader || (echo "nbgrader's lab extension is missing" && false)
	touch $@

# Student code is graded in a bubblewrap sandbox; install it where we can (Debian, as root).
# Without it grading still works, unsandboxed, and says so loudly.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap >/dev/null) ; } || \
	  echo "WARNING: bubblewrap (bwrap) is not installed: grading will run student code unsandboxed"

setup: $(STAMP) sandbox

lab: setup
	$(BIN)/jupyter lab --notebook-dir=release $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

test: setup
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

release: setup
	$(BIN)/python -m autograder.instructor.release $(ASSIGNMENTS)

samples: setup
	$(BIN)/python -m autograder.instructor.samples

demo: setup
	$(BIN)/python -m autograder demo --into demo-course

bench: setup
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) gradebook.db submitted autograded feedback reports demo-course .pytest_cache .hypothesis
