# The two commands a newcomer needs: `make demo` and `make test`. Each installs what is
# missing first (a Python venv with otcmm and its dev tools, and the pinned npm tools: solc-js,
# anvil, OpenZeppelin), so both work on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.otcmm-installed
NPM_STAMP := node_modules/.otcmm-installed

.PHONY: demo test lint bench compile check-artifacts devchain deps clean

demo: deps
	$(BIN)/otcmm demo

test: deps
	$(BIN)/pytest

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: deps
	$(BIN)/python -m bench.gas
	$(BIN)/python -m bench.tick
	$(BIN)/python -m bench.backtest
	$(BIN)/python -m bench.load --makers 3 --takers 1 --minutes 1 --block-time 2

compile: deps
	$(BIN)/otcmm compile

check-artifacts: deps
	$(BIN)/otcmm compile --check
	$(BIN)/otcmm chain-config check

devchain: deps
	$(BIN)/otcmm devchain

deps: $(PY_STAMP) $(NPM_STAMP)

$(PY_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "otcmm needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Kubernetes / OpenShift (k8s/README.md). OVERLAY: dev (default), openshift, openethereum.
.PHONY: k8s-render k8s-validate deploy teardown
OVERLAY ?= dev

k8s-render: $(PY_STAMP)
	$(BIN)/otcmm k8s render

# Offline: rendered files up to date, every overlay built and schema-checked, hadolint.
k8s-validate: $(PY_STAMP)
	$(BIN)/otcmm k8s render --check
	$(BIN)/pytest -q tests/test_k8s.py tests/test_k8s_optimize.py tests/test_containerfile.py

deploy: $(PY_STAMP)
	k8s/scripts/deploy.sh $(OVERLAY)

teardown:
	k8s/scripts/teardown.sh $(OVERLAY)
