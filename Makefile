# The two commands that matter: `make run` serves the gateway, `make test` proves it.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# `make run` installs the runtime (requirements.txt) only; `make test` adds the test set
# (requirements-dev.txt). Each has its own stamp, redone when its files change.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint tools bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(PY)
	$(PIP) -r requirements.txt
	touch $@

$(TEST_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PIP) -r requirements-dev.txt
	touch $@

# gunicorn binds 0.0.0.0:$PORT when PORT is set (PaaS), else 127.0.0.1:8000.
run: $(RUN_STAMP)
	$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

# Debian programs the tests drive, as `program:package`: nginx and systemd-analyze check the
# files in docs/deploy/, curl runs its /ready checker, chromium + chromium-driver are the browser,
# PostgreSQL is the store's database in tests/pg.py (Debian keeps initdb and pg_ctl in
# /usr/lib/postgresql/<version>/bin, off PATH: its pg_ctlcluster, on PATH, says it is installed).
TOOLS := nginx:nginx systemd-analyze:systemd curl:curl chromium:chromium chromedriver:chromium-driver \
	pg_ctlcluster:postgresql

# Install the missing ones, only as root with apt-get (CI runs so) and never through sudo.
# Otherwise their tests skip, except under CI=true, where a missing program fails its tests.
tools:
	@missing=""; \
	for pair in $(TOOLS); do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "make tools: not root with apt-get, so not installing:$$missing (their tests skip)"; exit 0; \
	fi; \
	echo "make tools: installing Debian packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	  || echo "make tools: apt-get could not install:$$missing"

# The core once more under gevent's monkey-patching, as production runs it (the simulator's own
# tests are left out there: the simulator is a separate process on plain threads).
GEVENT_TESTS := tests/core --ignore=tests/core/test_simulator.py \
	--ignore=tests/core/test_simulator_features.py --ignore=tests/core/test_sim_answers.py \
	--ignore=tests/core/test_sim_acp.py

# Lint, types and the layers' import contracts, at zero findings (settings in pyproject.toml).
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The suite mostly waits (gateways starting, timeouts running out), so three pytest-xdist
# workers share two cores well; a file stays on one worker, so its module-scoped gateway is
# started once. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 3

test: $(TEST_STAMP) tools lint
	$(PY) -m pytest -n $(TEST_WORKERS)
	$(PY) -m gevent.monkey --module pytest $(GEVENT_TESTS) -p no:cacheprovider

bench: $(TEST_STAMP)
	$(PY) bench/core_latency.py
	$(PY) bench/ttft.py
	$(PY) bench/concurrency.py
	$(PY) bench/hostile_bodies.py

clean:
	rm -rf $(VENV) .pytest_cache
