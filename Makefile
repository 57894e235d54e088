# Two commands a fresh machine needs: `make run` and `make test`.
# Both create .venv and install what they need on their own.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
AWS_PORT ?= 4566

.PHONY: run test lint format bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	PORT=$(PORT) AWS_PORT=$(AWS_PORT) $(PY) -m infra.local

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: $(STAMP) lint
	$(VENV)/bin/pytest -n 2

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .local .pytest_cache .ruff_cache
