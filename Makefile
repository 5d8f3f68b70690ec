# Ordermesh. `make run` starts the service with demo data; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run simulate test lint audit format clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Ordermesh needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/ordermesh migrate
	$(BIN)/ordermesh demo
	ORDERMESH_TEST_GATEWAY_ENABLED=$${ORDERMESH_TEST_GATEWAY_ENABLED:-true} \
	ORDERMESH_COURIER_ENABLED=$${ORDERMESH_COURIER_ENABLED:-true} \
	  $(BIN)/ordermesh serve --host 127.0.0.1 --port 8000 --with-worker

# A simulated retail day on the demo data, through the API (ORDERS=500 make simulate).
simulate: install
	$(BIN)/ordermesh migrate
	$(BIN)/ordermesh demo
	$(BIN)/ordermesh simulate --orders $${ORDERS:-200}

test: install
	$(BIN)/pytest -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Known vulnerabilities in the installed dependencies (pip-audit asks PyPI's JSON API for each
# one's version; docs/security.md). Where that service cannot be reached, the audit says so and
# why, and does not fail the build: it did not run, it did not pass.
AUDIT_PROBE = import importlib.metadata as m, urllib.request as u; \
  u.urlopen("https://pypi.org/pypi/pip-audit/" + m.version("pip-audit") + "/json", timeout=20)
audit: install
	@if reason=$$($(BIN)/python -c '$(AUDIT_PROBE)' 2>&1 | tail -n 1); [ -z "$$reason" ]; then \
	  $(BIN)/pip-audit --strict --skip-editable --progress-spinner off; \
	else \
	  echo "make audit: NOT RUN: pip-audit cannot reach its vulnerability service here" \
	       "(https://pypi.org/pypi/<name>/<version>/json): $$reason"; \
	fi

format: install
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) ordermesh.db ordermesh.db-wal ordermesh.db-shm ordermesh.db-writers
