#!/usr/bin/env bash
# Start a Docker engine (installed by bootstrap_ci.sh) if none answers.
# Idempotent: does nothing when `docker info` already works.
set -euo pipefail

log() { printf '[motor] %s\n' "$*"; }

if docker info >/dev/null 2>&1; then
  log "El motor Docker ya responde."
  exit 0
fi

command -v dockerd >/dev/null 2>&1 || { log "Falta dockerd: ejecuta scripts/bootstrap_ci.sh."; exit 1; }
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
