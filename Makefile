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

.PHONY: setup lab test test-fast release check-release clean help

help:
	@echo "make lab      set up and open JupyterLab on release/ (the student's view)"
	@echo "make test     set up and run every test"
	@echo "make release  regenerate release/ from source/ with nbgrader"
	@echo "make clean    remove the environment and nbgrader's working folders"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/jupyter labextension list 2>&1 | grep -q nbgrader || (echo "nbgrader's lab extension is missing" && false)
	touch $@

setup: $(STAMP)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=release $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

test: setup
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

release: setup
	$(BIN)/python -m autograder.release $(ASSIGNMENTS)

clean:
	rm -rf $(VENV) gradebook.db submitted autograded feedback .pytest_cache .hypothesis
