# The two commands that matter: `make run` serves the gateway, `make test` proves it.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: run test test-plain test-gevent bench clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

# gunicorn binds 0.0.0.0:$PORT when PORT is set (PaaS), else 127.0.0.1:8000.
run: $(STAMP)
	$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

test: $(STAMP)
	$(PY) -m pytest
	$(PY) -m gevent.monkey --module pytest tests/core -p no:cacheprovider

bench: $(STAMP)
	$(PY) bench/core_latency.py
	$(PY) bench/ttft.py
	$(PY) bench/concurrency.py

clean:
	rm -rf $(VENV) .pytest_cache
