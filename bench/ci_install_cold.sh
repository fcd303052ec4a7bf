#!/usr/bin/env bash
# Time each install step of .ci/run with EMPTY caches (the course's, Go's, pip's, npm's),
# as on a new machine: the cold half of the CI time (the other half is `make test`,
# whose time .ci/run prints). The Docker engine and its images are left as they are
# (they cannot be emptied without disturbing the machine), so the images are timed
# apart by `bench/image_build.py`.
#
#   git clone <repo> /tmp/frio && cd /tmp/frio && bash bench/ci_install_cold.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d /tmp/tema15-frio-XXXXXX)
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
export TEMA15_CACHE="$scratch/tema15" GOCACHE="$scratch/go-build" GOMODCACHE="$scratch/go-mod"
export PIP_CACHE_DIR="$scratch/pip" npm_config_cache="$scratch/npm"
if [ -e .venv ]; then
  echo "Hay un .venv en $(pwd): este banco lo crea de cero. Ejecútalo en un clon limpio." >&2
  exit 2
fi

results=()
step() {
  local name=$1; shift
  local started=$SECONDS
  "$@" > "$scratch/$name.log" 2>&1 || { tail -20 "$scratch/$name.log"; exit 1; }
  results+=("$name $((SECONDS - started))")
  printf '%-22s %5d s\n' "$name" "$((SECONDS - started))"
}

step k8s bash scripts/install_k8s.sh
step crds bash scripts/install_crds.sh
step logs bash scripts/install_logs.sh
step proxy bash scripts/install_proxy.sh
step setup make setup
step cicd bash scripts/install_cicd.sh .venv/bin

total=0
for r in "${results[@]}"; do total=$((total + ${r##* })); done
printf '%-22s %5d s\n' "total" "$total"
mkdir -p bench/results
{
  printf '{"fecha": "%s", "pasos_s": {' "$(date -u +%FT%TZ)"
  sep=""
  for r in "${results[@]}"; do printf '%s"%s": %s' "$sep" "${r% *}" "${r##* }"; sep=", "; done
  printf '}, "total_s": %d, "nucleos": %d}\n' "$total" "$(nproc)"
} > bench/results/ci_install_cold.json
