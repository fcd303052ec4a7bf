#!/usr/bin/env bash
# Machine bootstrap for CI and for Debian/Ubuntu machines without Docker Desktop:
# Docker engine, mmdebstrap (local stand-in images), redis-server (the service's tests
# use a real Redis), the prometheus and alertmanager binaries (section 15.8 without an
# engine, as on Binder) and the buildx plugin. Only Debian's package registry is used.
# Idempotent: installs only what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io iptables)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)

if [ ${#missing[@]} -gt 0 ]; then
  echo "[bootstrap] instalando desde Debian: ${missing[*]}"
  # policy-rc.d stops packages from starting system services nobody would stop.
  guard=/usr/sbin/policy-rc.d
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$guard" && chmod +x "$guard"
    trap 'rm -f "$guard"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

bash "$here/start_engine.sh"
bash "$here/install_buildx.sh" || echo "[bootstrap] buildx no disponible (opcional): sigo sin él."
