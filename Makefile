# Two commands: `make run` serves the demo, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install system-deps test-env bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# run_portal --prepare migrates, collects static files and (without DATABASE_URL) ensures the demo
# in its own process before serving: one Django start-up instead of four.
run: $(STAMP)
	$(PY) manage.py run_portal --prepare

# Debian's Chromium for the browser tests and dcmtk's storescu as a real DICOM peer.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v storescu >/dev/null || missing="$$missing dcmtk"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The suite runs against the PostgreSQL and Redis of this machine, with a real Celery worker.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

test: $(STAMP) system-deps
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DATA_DIR=$$(mktemp -d) \
	  $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) var
