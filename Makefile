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
	# Three pytest phases, the first two at once: see the script.
	bash scripts/test-phases.sh

bench: engine
	$(PY) -m bench

clean:
	-$(ORCH) engine stop
	-$(ORCH) engine stop --instance test
	-$(ORCH) engine stop --instance test1
	rm -rf $(VENV) var
