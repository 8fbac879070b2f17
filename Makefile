# The two commands: `make lab` (set up, open your copy of the course) and `make test` (set up, run
# every test).
# Everything is installed into .venv/ from requirements.txt + constraints.txt.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
ASSIGNMENTS := $(notdir $(wildcard source/[0-9][0-9]_*))

# nbgrader runs helpers such as `alembic` from the environment's bin/: keep it first on PATH.
export PATH := $(BIN):$(PATH)

.PHONY: setup system sandbox browser fonts postgres hub-proxy hub lab my-work lab-instructor test test-fast lint screenshots release \
        student-kit samples demo bench bench-cluster new clean help

CHROMIUM ?= /usr/bin/chromium

help:
	@echo "make lab            set up and open JupyterLab on $(WORK)/, your own copy of release/ (Validate button)"
	@echo "make my-work        only copy into $(WORK)/ the notebooks of release/ not there yet (never overwrites)"
	@echo "make lab-instructor set up and open JupyterLab on the course root (nbgrader's formgrader)"
	@echo "make hub            set up and run the example JupyterHub (docs/jupyterhub/jupyterhub_config.py; root, PAM users)"
	@echo "make test           set up, lint, and run every test (browser tests included; what CI runs)"
	@echo "make test-fast      the same without the slow tests (notebooks, nbgrader, kit, browser)"
	@echo "make lint           ruff over the code and the tests"
	@echo "make setup          only set up: .venv/ from the pinned requirements, and the Debian packages"
	@echo "make release        regenerate release/ from source/ with nbgrader"
	@echo "make samples        regenerate the sample classes samples/<assignment>/ from release/"
	@echo "make student-kit    build dist/student-kit/ and dist/student-kit.zip, what students get"
	@echo "make screenshots    rerun the browser tests and keep their screenshots in docs/"
	@echo "make demo           grade the sample class of every assignment in demo-course/, with reports"
	@echo "make bench          time to grades: our grade command vs plain nbgrader autograde, the feedback run, scaling (long)"
	@echo "make bench-cluster  the grade command locally vs on a local Dask cluster of 1 and 2 workers (BENCH_ARGS=--pin: a core each)"
	@echo "make new NAME=NN_topic  the skeleton of a new assignment (python -m autograder new)"
	@echo "make clean          remove the environment and nbgrader's working folders"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/jupyter labextension list 2>&1 | grep -q nbgrader || (echo "nbgrader's lab extension is missing" && false)
	touch $@

# Debian packages, installed with apt-get when missing and when run as root (one apt-get for all):
#   bubblewrap      student code is graded in a bubblewrap sandbox (without it grading still
#                   works, unsandboxed, and says so loudly);
#   chromium        the browser tests drive Debian's Chromium (Playwright's own browser download
#                   is not used); without it they are skipped, saying why;
#   fonts-noto-cjk  a font with Hangul, for the glossaries' Korean in the browser and in figures;
#   postgresql      the tests of a gradebook on PostgreSQL (tests/test_postgres.py) start their
#                   own server on a free port; the package's own server is not started
#                   (policy-rc.d, for the install only); without it they are skipped, saying why.
# Anywhere else (not root, not Debian) each missing one is a warning, never an error.
HAS_BWRAP    := command -v bwrap
HAS_CHROMIUM := test -x $(CHROMIUM)
HAS_HANGUL   := { fc-list :lang=ko family 2>/dev/null; find /usr/share/fonts -iname '*cjk*' -o -iname 'nanum*' 2>/dev/null; } | grep -q .
HAS_POSTGRES := ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1

system:
	@missing=""; \
	$(HAS_BWRAP) >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	$(HAS_CHROMIUM) || missing="$$missing chromium"; \
	$(HAS_HANGUL) || missing="$$missing fonts-noto-cjk"; \
	$(HAS_POSTGRES) || missing="$$missing postgresql"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "apt-get install$$missing"; \
	  apt-get update -qq >/dev/null 2>&1; \
	  policy=""; [ -e /usr/sbin/policy-rc.d ] || { policy=/usr/sbin/policy-rc.d; printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1; \
	  [ -z "$$policy" ] || rm -f $$policy; \
	fi; \
	$(HAS_BWRAP) >/dev/null 2>&1 || echo "WARNING: bubblewrap (bwrap) is not installed: grading will run student code unsandboxed"; \
	$(HAS_CHROMIUM) || echo "WARNING: no Chromium at $(CHROMIUM) (Debian: apt-get install chromium): the browser tests will be skipped"; \
	$(HAS_HANGUL) || echo "WARNING: no font with Hangul (Debian: apt-get install fonts-noto-cjk): Korean shows as empty boxes"; \
	$(HAS_POSTGRES) || echo "WARNING: PostgreSQL is not installed (Debian: apt-get install postgresql): the tests of a gradebook on PostgreSQL will be skipped"

sandbox browser fonts postgres: system

# JupyterHub's proxy (configurable-http-proxy, an npm package) for the example hub in
# docs/jupyterhub/, pinned by its package-lock.json and installed beside it with the machine's
# Node.js (20 or newer). Without npm it is a warning: the hub's test is skipped, saying why (on
# CI, COURSE_REQUIRE_BROWSER=1, it fails instead).
HUB_DIR   := docs/jupyterhub
HUB_PROXY := $(HUB_DIR)/node_modules/.bin/configurable-http-proxy

$(HUB_PROXY): $(HUB_DIR)/package.json $(HUB_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(HUB_DIR) --no-audit --no-fund --loglevel=error && touch $@; \
	else \
	  echo "WARNING: no npm (Node.js 20 or newer): JupyterHub's proxy for $(HUB_DIR)/ is not installed, its test will be skipped"; \
	fi

hub-proxy: $(HUB_PROXY)

setup: $(STAMP) system hub-proxy

# The example hub, as it would run for a class: as root, PAM logins for the users named in
# COURSE_HUB_INSTRUCTORS and COURSE_HUB_STUDENTS (see the top of the config for every setting).
hub: setup
	$(BIN)/jupyterhub -f $(HUB_DIR)/jupyterhub_config.py $(HUB_ARGS)

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

# A self-learner's work lives in $(WORK)/ (git-ignored), never in the tracked release/, which
# `make release` regenerates. Every file of release/ not yet in $(WORK)/ is copied there, and
# nothing there is ever overwritten: a notebook released later appears, your work stays (delete
# your copy of a notebook to start it again). The notebooks import `course` from the editable
# install of this repository (.venv/), wherever they are.
WORK ?= my-work
WORK_DIR = $(abspath $(WORK))

my-work:
	@cd release && find . -type f ! -path '*/.ipynb_checkpoints/*' ! -path '*/__pycache__/*' | sort | \
	while read -r f; do \
	  if [ ! -e "$(WORK_DIR)/$$f" ]; then \
	    mkdir -p "$(WORK_DIR)/$$(dirname "$$f")" && cp "$$f" "$(WORK_DIR)/$$f" && \
	    echo "$(WORK)/$${f#./}: copied from release/"; \
	  fi; \
	done

lab: setup my-work
	@echo "your work: $(WORK)/ (git-ignored; make lab adds new notebooks, never overwrites yours)"
	$(BIN)/jupyter lab --notebook-dir=$(WORK) $(ROOT_FLAG) $(LAB_ARGS)

# The course root: nbgrader's formgrader (Nbgrader > Formgrader) finds nbgrader_config.py here.
lab-instructor: setup
	$(BIN)/jupyter lab --notebook-dir=. $(ROOT_FLAG) $(LAB_ARGS)

test: setup lint
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-fast: setup lint
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# The README's screenshots are the browser tests' own: rerun them and keep what they took.
screenshots: setup
	COURSE_SCREENSHOTS=$(CURDIR)/docs $(BIN)/python -m pytest -n 2 tests/test_browser.py $(PYTEST_ARGS)

release: setup
	$(BIN)/python -m autograder.instructor.release $(ASSIGNMENTS)

student-kit: setup
	$(BIN)/python -m autograder kit --out dist

samples: setup
	$(BIN)/python -m autograder.instructor.samples

demo: setup
	$(BIN)/python -m autograder demo --into demo-course

bench: setup
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-cluster: setup
	$(BIN)/python bench/cluster.py $(BENCH_ARGS)

new: setup
	$(BIN)/python -m autograder new $(NAME)

clean:
	rm -rf $(VENV) $(HUB_DIR)/node_modules dist gradebook.db submitted autograded feedback reports demo-course .pytest_cache .hypothesis
