# Two commands matter (README): `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DIAGOPS := $(VENV)/bin/diagops
PYTHON ?= python3

.PHONY: demo test install system-deps serve lint bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

install: $(VENV)/.installed

# Debian's redis-server, prometheus (with promtool) and chromium (with chromium-driver, for the
# page's browser tests): the tests use the real ones.
system-deps:
	@missing=""; \
	for bin in redis-server prometheus promtool chromium chromedriver; do command -v $$bin >/dev/null || missing="$$missing $$bin"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages for:$$missing"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server prometheus chromium chromium-driver >/dev/null; \
	  else \
	    echo "make test needs:$$missing (Debian: sudo apt-get install redis-server prometheus chromium chromium-driver)"; exit 3; \
	  fi; \
	fi

COVERAGE_MIN = $$($(PY) -c "from diagops.spec import load_spec; print(round(load_spec('diagops.yaml').slo.coverage.min_ratio * 100))")

test: install system-deps
	@mkdir -p reports/out/tests
	$(PY) -m pytest -q --cov --cov-report=term:skip-covered --cov-report=xml:reports/out/tests/coverage.xml \
	  --junitxml=reports/out/tests/junit.xml --cov-fail-under=$(COVERAGE_MIN) $(PYTEST_ARGS)

# The main job on embedded defaults: 100 diagnosis sockets against an embedded push service
# (memory store, simulated engine); no Redis, no Prometheus. Exit code is the verdict.
demo: install
	$(DIAGOPS) loadtest --duration 45s

serve: install
	$(DIAGOPS) serve

clean:
	rm -rf $(VENV) .pytest_cache .coverage htmlcov *.egg-info
