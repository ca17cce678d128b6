# Two commands on a fresh Debian 12 machine, as root:
#   make run   - set everything up, start Asterisk and the service (SQLite) on 127.0.0.1:8000
#   make test  - set everything up, run the whole suite against the real Asterisk
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ORCH := $(VENV)/bin/orchestrator
STAMP := $(VENV)/.installed

.PHONY: run test bench lint setup engine clean

$(STAMP): pyproject.toml
	bash scripts/setup-host.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

engine: setup
	$(ORCH) engine install

run: engine
	$(ORCH) run

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: engine
	bash scripts/setup-host.sh --services
	$(MAKE) --no-print-directory lint
	# The unit and API tests (CPU-bound, no engine) and the conformance worlds that need
	# no engine (fake, fake FreeSWITCH peer: free ports only) on both cores; then, one at
	# a time, the tests with real processes and ports: engine, conformance on Asterisk,
	# benchmark smoke, browser.
	$(VENV)/bin/pytest -n 2 --durations=10 -m "not engine" tests/unit tests/api tests/conformance
	$(VENV)/bin/pytest --durations=25 -m "not no_engine" tests --ignore=tests/unit --ignore=tests/api

bench: engine
	$(PY) -m bench

clean:
	-$(ORCH) engine stop
	-$(ORCH) engine stop --instance test
	rm -rf $(VENV) var
