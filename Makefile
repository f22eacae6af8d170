# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench deps clean soak powercut fuzz test-log test-sqlite api-fuzz \
	compiled test-compiled

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian packages that the tests talk to for real: sshd (SFTP), socat (serial pty pairs),
# xmllint (independent XSD validation), mkfs.ext4/e2fsck (a failing disk on a loop device),
# cobc (GnuCOBOL: the oracle of the copybook field types and of the copybook corpus's layouts).
# Installed when we are root and they are missing.
deps:
	@missing=""; \
	command -v socat >/dev/null || missing="$$missing socat"; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server openssh-sftp-server"; \
	command -v xmllint >/dev/null || missing="$$missing libxml2-utils"; \
	command -v mkfs.ext4 >/dev/null || missing="$$missing e2fsprogs"; \
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
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/mypy
	$(BIN)/pytest -q

# The power-cut test at length (make test runs 200 cuts): CUTS=5000 SEED=2 make powercut
CUTS ?= 5000
SEED ?= 1
powercut: $(STAMP)
	CLETS_POWERCUT_CUTS=$(CUTS) CLETS_POWERCUT_SEED=$(SEED) $(BIN)/pytest -q -s \
	    tests/test_powercut.py -k lose_nothing

# The switch, crash, restart and power-cut tests on each journal format. The log journal is
# the default (`make test` runs everything on it); `make test-sqlite` runs these on the SQLite
# journal (CLETS_JOURNAL_FORMAT=sqlite), so both stay covered; `make test-log` pins the log.
# The test that reads the SQLite tables itself pins its own format.
JOURNAL_TESTS = tests/test_switch_*.py tests/test_routing_switch.py tests/test_crash.py \
	tests/test_powercut.py tests/test_group_commit.py tests/test_audit_chain.py \
	tests/test_drop_disk_full.py tests/test_capture_disk_full.py tests/test_disk_full.py \
	tests/test_daemon.py tests/test_slow_reader.py tests/test_journal_log.py tests/test_journal_feed.py \
	tests/test_commit_chain.py tests/test_hit_confirmation.py tests/test_api_events.py \
	tests/test_api_webhooks.py
test-log: $(STAMP) deps
	CLETS_JOURNAL_FORMAT=log $(BIN)/pytest -q $(JOURNAL_TESTS)
test-sqlite: $(STAMP) deps
	CLETS_JOURNAL_FORMAT=sqlite $(BIN)/pytest -q $(JOURNAL_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/codecs.py
	$(BIN)/python bench/bench_links.py
	$(BIN)/python bench/switch.py
	$(BIN)/python bench/journal_floor.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/log_restart.py
	$(BIN)/python bench/api.py

# An hour of load with hostile traffic mixed in and a SIGKILL every minute (issue 12, item 7).
# SOAK_MINUTES=5 for a shorter one; the figures are printed at the end.
soak: $(STAMP)
	CLETS_SOAK_MINUTES=$${SOAK_MINUTES:-60} $(BIN)/pytest -q -s tests/test_soak.py -k long

# Coverage-guided fuzzing (atheris, the `fuzz` extra): each target of fuzz/targets.py for
# FUZZ_SECONDS (3 minutes; FUZZ_SECONDS=3600 for an hour each), niced; FUZZ_TARGETS picks some.
# Corpora grow in .fuzz/ (not in git); each failing input is saved to tests/fuzz_regressions/
# and fails the target (docs/testing.md, Fuzzing).
FUZZ_SECONDS ?= 180
FUZZ_TARGETS ?=
fuzz: $(STAMP)
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/pip install -q -e '.[dev,fuzz]'
	nice -n 10 $(BIN)/python fuzz/run.py --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)
	nice -n 10 $(BIN)/python fuzz/scaling.py $(FUZZ_TARGETS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache

# schemathesis against the served HTTP API at length (make test runs 15 cases per operation
# and mode): API_EXAMPLES=2000 make api-fuzz
API_EXAMPLES ?= 500
api-fuzz: $(STAMP)
	CLETS_SCHEMATHESIS_EXAMPLES=$(API_EXAMPLES) nice -n 10 $(BIN)/pytest -q \
	    tests/test_api_schemathesis.py

# A prototype (docs/performance.md, session 9): the switch's hot modules compiled by mypyc
# into build/compiled (bench/build_compiled.py lists them and what it leaves interpreted).
# Optional: make test and the editable install stay pure Python.  bench/switch.py measures it
# against the pure switch in one run: --variants log,log+compiled.  test-compiled runs the
# switch, crash, restart and power-cut tests (JOURNAL_TESTS) with the build first on the path
# (their subprocesses too).
compiled: $(STAMP)
	$(BIN)/python bench/build_compiled.py
COMPILED_TESTS = $(JOURNAL_TESTS)
# two tests that cannot run on compiled code (test artifacts, not switch behaviour): one
# monkeypatches engine.authorize, which compiled code calls directly; one subclasses the
# compiled SqliteLogStore (mypyc: "interpreted classes cannot inherit from compiled")
COMPILED_DESELECT = \
	--deselect tests/test_switch_admin.py::test_a_bug_while_handling_a_frame_does_not_stop_the_link \
	--deselect tests/test_commit_chain.py::test_writer_thread_builds_the_next_block_and_a_failed_append_undoes_both
test-compiled: $(STAMP) deps
	$(BIN)/python bench/build_compiled.py --check
	PYTHONPATH=$(CURDIR)/build/compiled $(BIN)/pytest -q -p no:cacheprovider $(COMPILED_TESTS) \
	    $(COMPILED_DESELECT)
