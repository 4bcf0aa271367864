# Two entry points: `make up` runs the whole system on the embedded default,
# `make test` passes the tests. Both set up everything they need first.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: up test env lint typecheck contracts bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# Bytecode is compiled at install (uv's --compile-bytecode, compileall for our own sources):
# every process, each spawned rebuild job among them, then loads it instead of compiling
# the sources again, which PYTHONDONTWRITEBYTECODE would make it do at every start.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen --all-packages --compile-bytecode --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced
	$(VENV)/bin/python -m compileall -q contracts/src runtime/src services/*/src stack/src bench

up: env
	$(VENV)/bin/crm up

test: env
	$(VENV)/bin/python -m pytest -q

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: env
	$(VENV)/bin/mypy

contracts: env
	$(VENV)/bin/python -m crm_contracts.publish

bench: env
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .crm-data
