# ORC AI: `make up` runs the product locally, `make test` runs the whole test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APP_STAMP := $(VENV)/.installed-app
TEST_STAMP := $(VENV)/.installed-test

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: up test test-fast simulate worker app clean-data help debian-test-packages bench soak

help:
	@echo "make up        run FalkorDB, Airflow (demo DAGs), the worker and the app; Ctrl-C stops all"
	@echo "make test      install what the tests need and run the whole suite (real services; what CI runs)"
	@echo "make test-fast the tests that need no service: unit, pages in AppTest, static checks (< 1 min)"
	@echo "make simulate  write 30 days of synthetic history for the synced DAGs into the graph"
	@echo "make bench     run the benchmarks (over an hour: lineage, detection, page speed, sync and catch-up, forecasts and incidents on a real Airflow)"
	@echo "make soak      run the worker 30 min against a busy Airflow; print RSS growth and sync times"

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

# Debian packages the tests need, installed only when missing (browser tests use Debian's
# Chromium: `playwright install` would download a browser, which this network forbids).
# prometheus and prometheus-alertmanager give promtool and amtool (config and rule tests)
# and the real servers of the alert pipeline test (/usr/bin/prometheus, prometheus-alertmanager).
DEBIAN_TEST_PACKAGES := chromium prometheus prometheus-alertmanager prometheus-node-exporter
debian-test-packages:
	@missing=""; for pkg in $(DEBIAN_TEST_PACKAGES); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "[orcai] apt-get install$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

up: $(APP_STAMP)
	@$(PY) -m orcai.localstack.up

simulate: $(APP_STAMP)
	@$(PY) -m orcai.simulate --days 30

worker: $(APP_STAMP)
	@$(PY) -m workers.worker

app: $(APP_STAMP)
	@$(PY) -m orcai.serve_app

test: $(TEST_STAMP) debian-test-packages
	@$(PY) -m pytest

# The edit loop: the `fast` tier (tests/conftest.py decides each test's tier).
test-fast: $(TEST_STAMP)
	@$(PY) -m pytest -q -m fast

clean-data:
	rm -rf .orcai/falkordb .orcai/airflow .orcai/logs

# Benchmarks print their numbers; each exits non-zero when it misses its target.
BENCHMARKS := lineage_queries detection_quality detection_bound detection_degenerate detection_speed page_speed lineage_page_browser graph_load airflow_scale airflow_catch_up forecast_quality forecast_branches forecast_airflow incident_quality fault_injection
bench: $(TEST_STAMP) debian-test-packages
	@status=0; for b in $(BENCHMARKS); do \
	  echo "== $$b"; $(PY) -m tests.benchmarks.$$b || status=1; done; exit $$status

soak: $(TEST_STAMP) debian-test-packages
	$(PY) -m tests.benchmarks.soak --minutes $(or $(MINUTES),30)
