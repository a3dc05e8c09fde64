# ORC AI: `make up` runs the product locally, `make test` runs the whole test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APP_STAMP := $(VENV)/.installed-app
TEST_STAMP := $(VENV)/.installed-test

.PHONY: up test test-unit simulate worker app clean-data help

help:
	@echo "make up        run FalkorDB, Airflow (demo DAGs), the worker and the app; Ctrl-C stops all"
	@echo "make test      install what the tests need and run the whole suite"
	@echo "make simulate  write 30 days of synthetic history for the synced DAGs into the graph"

$(PY):
	@echo "[orcai] creating $(VENV)"
	@$(PYTHON) -m venv $(VENV)

# Reinstall only when the requirements change.
$(APP_STAMP): requirements.txt | $(PY)
	@echo "[orcai] installing requirements.txt into $(VENV) (first run ~1 min)"
	@$(PY) -m pip install --quiet --disable-pip-version-check --progress-bar off -r requirements.txt
	@touch $@

$(TEST_STAMP): requirements-test.txt $(APP_STAMP)
	@echo "[orcai] installing requirements-test.txt"
	@$(PY) -m pip install --quiet --disable-pip-version-check --progress-bar off -r requirements-test.txt
	@touch $@

up: $(APP_STAMP)
	@$(PY) -m orcai.localstack.up

simulate: $(APP_STAMP)
	@$(PY) -m orcai.simulate --days 30

worker: $(APP_STAMP)
	@$(PY) -m workers.worker

app: $(APP_STAMP)
	@$(PY) -m streamlit run app.py

test: $(TEST_STAMP)
	@$(PY) -m pytest

test-unit: $(TEST_STAMP)
	@$(PY) -m pytest tests/unit

clean-data:
	rm -rf .orcai/falkordb .orcai/airflow .orcai/logs
