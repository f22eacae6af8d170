# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench deps clean soak

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian packages that the tests talk to for real: sshd (SFTP), socat (serial pty pairs),
# xmllint (independent XSD validation). Installed when we are root and they are missing.
deps:
	@missing=""; \
	command -v socat >/dev/null || missing="$$missing socat"; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server openssh-sftp-server"; \
	command -v xmllint >/dev/null || missing="$$missing libxml2-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; \
	  else echo "not root: cannot install$$missing (tests that need them will skip)"; fi; \
	fi

demo: $(STAMP)
	$(BIN)/clets demo

test: $(STAMP) deps
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/codecs.py
	$(BIN)/python bench/bench_links.py
	$(BIN)/python bench/switch.py
	$(BIN)/python bench/journal_floor.py
	$(BIN)/python bench/quality.py

# An hour of load with hostile traffic mixed in and a SIGKILL every minute (issue 12, item 7).
# SOAK_MINUTES=5 for a shorter one; the figures are printed at the end.
soak: $(STAMP)
	CLETS_SOAK_MINUTES=$${SOAK_MINUTES:-60} $(BIN)/pytest -q -s tests/test_soak.py -k long

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
