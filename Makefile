# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench deps clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian packages that the tests talk to for real: sshd (SFTP), socat (serial pty pairs),
# xmllint (independent XSD validation), cobc (GnuCOBOL: the oracle of the copybook field types
# and of the copybook corpus's layouts). Installed when we are root and they are missing.
deps:
	@missing=""; \
	command -v socat >/dev/null || missing="$$missing socat"; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server openssh-sftp-server"; \
	command -v xmllint >/dev/null || missing="$$missing libxml2-utils"; \
	command -v cobc >/dev/null || missing="$$missing gnucobol3"; \
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

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
