# ccaudit tasks. Every target sets up its own virtualenv (.venv) first; only Python 3 is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
SPARK_STAMP := $(VENV)/.installed-spark
BENCH_RECORDS ?= $(or $(CCAUDIT_BENCH_RECORDS),1000000)
LARGE_STORE_EVENTS ?= 10000000
FUZZ_SECONDS ?= 300
# Three processes on two cores: many tests wait on a subprocess, a pipe or a mock broker, and a
# third keeps the cores busy meanwhile (the suite took 282 s against 347 s in two).
TEST_PROCESSES ?= 3
MEMORY_TEST_PROCESSES ?= 2
# Spark's tests wait on JVMs starting and stopping more than they compute: two processes, each with its own
# JVM (the CI run took 293 s against 363 s in one).
SPARK_TEST_PROCESSES ?= 2

.PHONY: demo test test-memory test-spark lint bench bench-compare bench-crowd bench-attack bench-spark html-check golden screenshot fuzz clean

$(STAMP): pyproject.toml
	@# A .venv made by hand (the README's quick start) is used as it is: made again by another
	@# Python, it would mix two versions. One whose Python no longer runs is made anew.
	$(BIN)/python -c '' 2>/dev/null || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e . --group dev
	@# The download extra is optional: its tests skip (with the reason) if it cannot be installed.
	-$(BIN)/python -m pip install -q -e '.[download]' || echo "note: confluent-kafka unavailable; download tests will be skipped"
	touch $@

$(SPARK_STAMP): $(STAMP)
	@# The spark extra (pyspark, pyarrow, pandas: about 45 s and 800 MB); its tests need Java 17 or newer.
	$(BIN)/python -m pip install -q -e '.[spark]'
	touch $@

demo: $(STAMP)  ## set up, then the quick start's first reports of a bundled fixture (its 6 bad lines are deliberate)
	$(BIN)/ccaudit report fixtures/sample-cli.txt -o report.html
	$(BIN)/ccaudit report fixtures/sample-cli.txt --out reports/ -q
	@echo "make demo: wrote report.html (open it in a browser) and reports/; then use .venv/bin/ccaudit"

test: $(STAMP)  ## set up, then run the test suite (in TEST_PROCESSES processes, pytest-xdist)
	$(BIN)/pytest -q -n $(TEST_PROCESSES)

test-memory: $(STAMP)  ## the memory-growth tests (a few minutes; skipped by `make test`)
	$(BIN)/pytest -q -n $(MEMORY_TEST_PROCESSES) --dist worksteal tests/test_memory.py --run-memory

test-spark: $(SPARK_STAMP)  ## ccaudit spark's tests, Spark in local mode (Java 17+; a few minutes)
	CCAUDIT_SPARK_TESTS=1 $(BIN)/pytest -q -n $(SPARK_TEST_PROCESSES) tests/test_spark.py

lint: $(STAMP)  ## ruff over the package, tests and benchmarks; mypy over the package and a program using it
	$(BIN)/ruff check ccaudit tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)  ## pytest-benchmark on generated dumps (BENCH_RECORDS, default 1M)
	@# Byte-compiled as pip compiles an installed package (an editable one is not, and with
	@# PYTHONDONTWRITEBYTECODE set every command would compile ccaudit first).
	$(BIN)/python -m compileall -q ccaudit
	CCAUDIT_BENCH_RECORDS=$(BENCH_RECORDS) $(BIN)/pytest benchmarks -q -p no:cacheprovider \
		--benchmark-columns=min,median,max,rounds --benchmark-sort=name

bench-compare: $(STAMP)  ## ccaudit vs DuckDB on the same generated dump, side by side
	$(BIN)/python -m compileall -q ccaudit
	$(BIN)/python -m benchmarks.compare --generate $(BENCH_RECORDS) --runs 3
	$(BIN)/python -m benchmarks.large_store --events $(LARGE_STORE_EVENTS)

bench-crowd: $(STAMP)  ## a large organization's 10M-event store (the generator's --crowd): size, reports, appends
	$(BIN)/python -m compileall -q ccaudit
	$(BIN)/python -m benchmarks.large_store --crowd --events $(LARGE_STORE_EVENTS)

bench-attack: $(STAMP)  ## a sign-in attack's day (a new email a record): load, html and text, timed
	$(BIN)/python -m compileall -q ccaudit
	$(BIN)/python -m benchmarks.attack_day

bench-spark: $(SPARK_STAMP)  ## ccaudit spark (local mode) vs ccaudit load on the same generated dump
	$(BIN)/python -m benchmarks.spark --records $(BENCH_RECORDS)

html-check: $(STAMP)  ## the HTML report rendered in headless Chromium (apt-get install chromium)
	$(BIN)/pytest -q tests/test_html.py -k chromium -rs

golden: $(STAMP)  ## rewrite the golden files (then review the diff by eye)
	$(BIN)/pytest -q tests/test_render.py tests/test_html.py tests/test_check.py tests/test_diff.py --update-golden

screenshot: $(STAMP)  ## docs/html-report.png from a generated 3-day dump
	rm -rf /tmp/ccaudit-demo && mkdir -p /tmp/ccaudit-demo
	$(BIN)/python -m benchmarks.generate 30000 /tmp/ccaudit-demo/audit.jsonl --format jsonl --days 3 \
		--start 2024-05-06T09:00:00Z --seed 7 --noise --dups 0.02
	cd /tmp/ccaudit-demo && $(CURDIR)/$(BIN)/ccaudit report -q audit.jsonl --format html -o report.html --top 6
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
		--disable-sync --no-first-run --user-data-dir=/tmp/ccaudit-demo/profile --hide-scrollbars \
		--window-size=1400,900 --screenshot=$(CURDIR)/docs/html-report.png file:///tmp/ccaudit-demo/report.html

fuzz: $(STAMP)  ## coverage-guided fuzzing of the decoders (FUZZ_SECONDS, default 300); not in CI
	$(BIN)/python -m pip install -q atheris
	@mkdir -p $(VENV)/fuzz/corpus $(VENV)/fuzz/findings  # the corpus grows from run to run
	$(BIN)/python tests/fuzz_decoders.py -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=$(VENV)/fuzz/findings/ $(VENV)/fuzz/corpus

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks bench-data build *.egg-info
