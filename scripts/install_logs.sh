#!/usr/bin/env bash
# Section 15.9's log pipeline for machines without Docker Hub (the project's CI, Binder):
# VictoriaLogs built from its Go module (it speaks Loki's push API and Elasticsearch's
# bulk API, queried in LogsQL) and syslog-ng from Debian (the shipper: tails files,
# parses JSON, posts to an HTTP API). Both cached outside the repository, keyed by
# version, and reused; nothing is installed system-wide (no daemon is started).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

VLOGS_VERSION=${TEMA15_VLOGS_VERSION:-v1.52.1}
SYSLOGNG_SUITE=${TEMA15_SYSLOGNG_SUITE:-bookworm}
cache=${TEMA15_CACHE:-$HOME/.cache/tema15}
vbin="$cache/victorialogs/$VLOGS_VERSION/bin"
sdir="$cache/syslog-ng/$SYSLOGNG_SUITE"
log() { printf '[logs] %s\n' "$*"; }
start=$(date +%s)

# 1. VictoriaLogs (static Go binary, no cgo).
# Its -version flag prints nothing for a `go install` build: read the module version.
if [ -x "$vbin/victoria-logs" ] && go version -m "$vbin/victoria-logs" 2>/dev/null \
     | grep -q "VictoriaLogs[[:space:]]*$VLOGS_VERSION"; then
  log "VictoriaLogs en caché: $vbin/victoria-logs"
else
  command -v go >/dev/null 2>&1 || { log "falta Go (>= 1.25) para compilar VictoriaLogs"; exit 1; }
  mkdir -p "$vbin"
  log "compilando VictoriaLogs $VLOGS_VERSION desde su módulo de Go…"
  CGO_ENABLED=0 GOBIN="$vbin" GOFLAGS=-trimpath \
    go install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VLOGS_VERSION"
fi

# 2. syslog-ng (core + the http module), unpacked from Debian's .debs with its libraries.
if [ -x "$sdir/bin/syslog-ng" ] && "$sdir/bin/syslog-ng" --version >/dev/null 2>&1; then
  log "syslog-ng en caché: $sdir/bin/syslog-ng"
elif command -v syslog-ng >/dev/null 2>&1; then
  log "syslog-ng del sistema: $(command -v syslog-ng) (Binder: binder/apt.txt)"
else
  debs=$(mktemp -d)
  trap 'rm -rf "$debs"' EXIT
  # The libraries syslog-ng needs beyond a minimal bookworm (libpcre3, libwrap0…).
  for package in syslog-ng-core syslog-ng-mod-http libivykis0 libnet1 libpcre3 libwrap0 libjson-c5; do
    bash "$here/debian_download.sh" "$SYSLOGNG_SUITE" "$package" "$debs"
  done
  root="$sdir/root"
  rm -rf "$root" && mkdir -p "$root" "$sdir/bin"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root"; done
  libs="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu:$root/usr/lib/syslog-ng"
  # A wrapper: the cached libraries and modules, never the host's /etc/syslog-ng.
  cat > "$sdir/bin/syslog-ng" <<WRAP
#!/bin/sh
export LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$root/usr/sbin/syslog-ng" --module-path="$(ls -d "$root"/usr/lib/syslog-ng/*/ | head -n1)" "\$@"
WRAP
  chmod +x "$sdir/bin/syslog-ng"
  if ! "$sdir/bin/syslog-ng" --version >/dev/null; then
    log "syslog-ng no arranca (¿falta una biblioteca?)"; exit 1
  fi
  "$sdir/bin/syslog-ng" --version | sed -n 1p  # sed reads it all: no SIGPIPE under pipefail
fi
log "listo en $(( $(date +%s) - start )) s"
