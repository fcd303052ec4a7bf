#!/usr/bin/env bash
# Machine bootstrap for CI and for Debian/Ubuntu machines without Docker Desktop:
# Docker engine, mmdebstrap (local stand-in images) and the buildx plugin.
# Only Debian's package registry is used. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v mmdebstrap >/dev/null 2>&1; then
  echo "[bootstrap] instalando mmdebstrap…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null
fi
bash "$here/start_engine.sh"
bash "$here/install_buildx.sh" || echo "[bootstrap] buildx no disponible (opcional): sigo sin él."
