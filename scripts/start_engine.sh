#!/usr/bin/env bash
# Install (from Debian packages) and start a Docker engine if none answers.
# Idempotent: does nothing when `docker info` already works.
set -euo pipefail

log() { printf '[motor] %s\n' "$*"; }

if docker info >/dev/null 2>&1; then
  log "El motor Docker ya responde."
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "Instalando docker.io desde los paquetes de Debian…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends docker.io iptables ca-certificates >/dev/null
fi
command -v docker >/dev/null 2>&1 || { log "Falta el cliente docker."; exit 1; }

log "Arrancando dockerd en segundo plano (registro en /var/log/tema15-dockerd.log)…"
nohup dockerd >/var/log/tema15-dockerd.log 2>&1 &

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "Motor listo: $(docker version --format 'servidor {{.Server.Version}}, API {{.Server.APIVersion}}')"
    exit 0
  fi
  sleep 1
done
log "dockerd no respondió en 60 s; últimas líneas del registro:"
tail -n 20 /var/log/tema15-dockerd.log || true
exit 1
