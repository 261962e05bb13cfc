# Everything a developer or CI needs: `make run` (the demo) and `make test` (every check).
# Both set themselves up from the project's own files (uv.lock, specs/package-lock.json).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export NO_PROXY := 127.0.0.1,localhost
export no_proxy := 127.0.0.1,localhost
export UV_LINK_MODE := copy

# uv from PATH, else a private copy in .tools/ (a venv: works where pip --user is refused, PEP 668)
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PY := .venv/bin/python
SPECS := specs/node_modules/.package-lock.json

.PHONY: help setup run test lint fmt typecheck imports pytest bench docs messages goldens clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(filter .tools/bin/uv,$(UV))
	$(UV) sync --frozen --quiet
	@touch $@

$(SPECS): specs/package.json specs/package-lock.json
	npm ci --prefix specs --no-audit --no-fund --loglevel=error

setup: .venv/.synced $(SPECS) ## install the locked Python env and the official API descriptions

run: setup ## the demo: sandbox seeded with the demo world, then a plan of desired_state/
	.venv/bin/reconciler demo

test: setup lint typecheck imports pytest ## every check: ruff, mypy --strict, import-linter, pytest

lint: setup ## ruff lint and format check
	$(UV) run --frozen ruff check reconciler tests
	$(UV) run --frozen ruff format --check reconciler tests

fmt: setup ## format and auto-fix
	$(UV) run --frozen ruff format reconciler tests
	$(UV) run --frozen ruff check --fix reconciler tests

typecheck: setup ## mypy --strict on reconciler/
	$(UV) run --frozen mypy

imports: setup ## layer contracts (import-linter)
	$(UV) run --frozen lint-imports

pytest: setup ## the test suite
	@# pytest exits 5 when it collected no tests: that is a broken suite, say so plainly.
	$(UV) run --frozen pytest -q -n auto || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }

docs: setup ## regenerate docs/findings.md from the finding catalogue
	.venv/bin/reconciler findings --format markdown > docs/findings.md

bench: setup ## benchmarks: API round trips and timings for large generated worlds
	$(PY) -m reconciler.bench --webhook

clean: ## remove the environment and caches
	rm -rf .venv .tools specs/node_modules .mypy_cache .ruff_cache .pytest_cache

messages: setup ## re-extract the messages of plans and reports into the ja/en catalogues (.po)
	.venv/bin/pybabel extract -F reconciler/locale/babel.cfg -k _ -k gettext -k ngettext:1,2 -k msg -k reason_words -k NC_:1c,2 \
		--no-location --sort-output --omit-header -o reconciler/locale/reconciler.pot .
	.venv/bin/pybabel update -i reconciler/locale/reconciler.pot -d reconciler/locale \
		-D reconciler --ignore-obsolete -w 100
	rm reconciler/locale/reconciler.pot

goldens: setup ## regenerate the golden files of the drift report and the plan digests (review the diff)
	UPDATE_GOLDENS=1 $(UV) run --frozen pytest -q tests/reports/test_drift_golden.py \
		tests/plan/test_plan_golden.py
