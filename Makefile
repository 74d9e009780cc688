# The product's front door: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

.PHONY: run test lint fmt system-deps bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -qq -c constraints.txt -e .
	touch $@

$(DEV_STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -qq -c constraints.txt -e '.[dev]'
	touch $(STAMP) $@

run: $(STAMP)
	$(VENV)/bin/openlines run --config config/openlines.yaml

# Debian packages the tests drive for real; installed only when missing.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && $(APT_INSTALL) chromium; }
	@command -v dovecot >/dev/null 2>&1 || test -x /usr/sbin/dovecot || { apt-get update -qq && $(APT_INSTALL) dovecot-imapd; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && $(APT_INSTALL) postgresql; }
	@command -v redis-server >/dev/null 2>&1 || test -x /usr/bin/redis-server || { apt-get update -qq && $(APT_INSTALL) redis-server; }
	@command -v supervisord >/dev/null 2>&1 || { apt-get update -qq && $(APT_INSTALL) supervisor; }

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Three workers on two cores: most tests wait on sockets and subprocesses; a module stays on one worker (its
# fixtures are set up once). `.venv/bin/pytest` alone runs the suite serially.
test: $(DEV_STAMP) system-deps lint
	$(PY) -m pytest -q -n 3 --dist loadfile

# Benchmarks measure and report (bench/README.md); they never fail for being slow.
bench: $(DEV_STAMP)
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) var/*.db var/*.db-* tests/artifacts
