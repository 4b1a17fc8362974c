# The two set-up commands are `make demo` and `make test`; both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
PORT ?= 8000
PYTEST_ARGS ?=
# Let Python keep compiled modules (and pytest its rewritten test modules) in __pycache__ even
# where the environment says not to: otherwise every process of the suite (two xdist workers,
# the commands the tests start, the second database's run) compiles them again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test check lint format types install serve clean messages openapi bench bench-1m

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/wenxu demo --port $(PORT)

serve: $(STAMP)
	$(BIN)/wenxu serve --port $(PORT)

# The whole suite; browser tests skip with a reason when Chromium is missing.
test: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

types: $(STAMP)
	$(BIN)/mypy wenxu tests conftest.py

check: lint types test

messages: $(STAMP)
	cd wenxu && ../$(BIN)/wenxu makemessages -l en --no-obsolete --ignore "tests/*" --ignore "*/tests/*" && ../$(BIN)/wenxu compilemessages -l en

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# The committed v1 API schema; a test and CI fail when the API changes without it.
openapi: $(STAMP)
	$(BIN)/wenxu export_openapi_schema --api wenxu.api.api.api --indent 2 --sorted --output docs/api/openapi.json

# Benchmarks B1–B9 with same-run baselines (docs/performance.md): PostgreSQL on 127.0.0.1:5432
# (WENXU_BENCH_SERVER to change it). The data set of a tier is generated once into its own
# database (wenxu_bench_100k, wenxu_bench_1m) and reused while the generator and schema are the same.
bench: $(STAMP)
	$(BIN)/python bench/run.py --tier 100k $(BENCH_ARGS)

bench-1m: $(STAMP)
	$(BIN)/python bench/run.py --tier 1m $(BENCH_ARGS)
