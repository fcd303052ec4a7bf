#!/usr/bin/env bash
# Local Kubernetes control plane for machines without kind (the project's CI):
# kube-apiserver, kube-controller-manager and kube-scheduler built from the official
# Go modules (k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces each
# staging module with a local path, so a small wrapper module pins them to the
# published v0.x tags), kwok/kwokctl from their module, and etcd >= 3.5.11 from
# Debian's trixie/sid package (bookworm's 3.4 is too old for Kubernetes >= 1.31).
# Everything is cached outside the repository, keyed by version, and reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

K8S_VERSION=${TEMA15_K8S_VERSION:-1.35.4}
KWOK_VERSION=${TEMA15_KWOK_VERSION:-v0.8.0}
cache=${TEMA15_CACHE:-$HOME/.cache/tema15}
dest="$cache/k8s/v$K8S_VERSION"
bin="$dest/bin"
log() { printf '[k8s] %s\n' "$*"; }

components=(kube-apiserver kube-controller-manager kube-scheduler)
have_all=1
for c in "${components[@]}" kwok kwokctl etcd; do
  [ -x "$bin/$c" ] || have_all=0
done
if [ "$have_all" = 1 ] && "$bin/kube-apiserver" --version 2>/dev/null | grep -q "v$K8S_VERSION"; then
  log "binarios en caché: $bin ($("$bin/kube-apiserver" --version))"
  exit 0
fi
command -v go >/dev/null 2>&1 || { log "falta Go (>= 1.25) para compilar el plano de control"; exit 1; }
mkdir -p "$bin"
start=$(date +%s)

# 1. kube-apiserver, kube-controller-manager, kube-scheduler.
if ! "$bin/kube-apiserver" --version 2>/dev/null | grep -q "v$K8S_VERSION" \
   || [ ! -x "$bin/kube-controller-manager" ] || [ ! -x "$bin/kube-scheduler" ]; then
  src="$dest/src"
  mkdir -p "$src"
  staging_tag="v0.${K8S_VERSION#1.}"
  upstream_mod=$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" \
                 | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module tema15.local/k8s-control-plane"
    echo
    echo "go 1.25"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    echo "replace ("
    # Same staging list as upstream, pointed at the published tags instead of ./staging.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#\t\1 => \1 '"$staging_tag"'#p' "$upstream_mod"
    echo ")"
  } > "$src/go.mod"
  cat > "$src/tools.go" <<'GO'
//go:build tools

// Package tools only records the commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
)
GO
  log "resolviendo módulos de Kubernetes v$K8S_VERSION ($(grep -c '=>' "$src/go.mod") módulos de staging)…"
  (cd "$src" && go mod tidy)
  pkg=k8s.io/component-base/version
  # Stamp the version: unstamped binaries report v0.0.0 to kubectl and Helm.
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  ldflags="-s -w -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  log "compilando ${components[*]} (la primera vez tarda; después se reutiliza la caché de Go)…"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler)
fi

# 2. kwok and kwokctl.
if [ ! -x "$bin/kwok" ] || [ ! -x "$bin/kwokctl" ]; then
  log "compilando kwok y kwokctl $KWOK_VERSION…"
  GOBIN="$bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
fi

# 3. etcd from Debian's trixie/sid package (a static Go binary that runs on bookworm).
if [ ! -x "$bin/etcd" ]; then
  log "descargando etcd-server de Debian (trixie/sid)…"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  bash "$here/debian_download.sh" trixie etcd-server "$tmp"
  dpkg -x "$tmp"/etcd-server_*.deb "$tmp/x"
  install -m 0755 "$tmp/x/usr/bin/etcd" "$bin/etcd"
fi

log "listo en $(( $(date +%s) - start )) s: $("$bin/kube-apiserver" --version), etcd $("$bin/etcd" --version | head -n1 | awk '{print $3}'), kwok $KWOK_VERSION"
