#!/usr/bin/env bash
# CustomResourceDefinitions of Argo CD, Flux, Argo Rollouts, Flagger and the Prometheus
# Operator (deploy/crds/sources.txt), fetched from the Go module proxy at pinned versions
# and copied to ~/.cache/tema15/crds/<group>/. Reused when present. Needs Go.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sources="$here/../deploy/crds/sources.txt"
cache=${TEMA15_CACHE:-$HOME/.cache/tema15}
dest="$cache/crds"
log() { printf '[crds] %s\n' "$*"; }
command -v go >/dev/null 2>&1 || { log "falta Go para descargar las CRD del proxy de módulos"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"  # `go mod download` outside any module: nothing of ours is touched

module_dir() {  # module@version -> its extracted, checksum-verified directory
  GOFLAGS=-mod=mod go mod download -json "$1" | python3 -c '
import json, sys
info = json.load(sys.stdin)
if info.get("Error"):
    sys.exit("go mod download: " + info["Error"])
print(info["Dir"])'
}

start=$(date +%s)
grep -v '^\s*#' "$sources" | grep -v '^\s*$' | while read -r group module files; do
  out="$dest/$group"
  if [ -f "$out/.source" ] && [ "$(cat "$out/.source")" = "$module $files" ]; then
    continue
  fi
  rm -rf "$out" && mkdir -p "$out"
  dir=$(module_dir "$module")
  case "$files" in
    controller-gen:*)
      tool=${files#controller-gen:}
      GOBIN="$cache/crds/.bin" go install "$tool"
      cp -r "$dir" "$work/api" && chmod -R u+w "$work/api"
      (cd "$work/api" && "$cache/crds/.bin/controller-gen" crd:crdVersions=v1 paths=./... \
         output:crd:dir="$out")
      rm -rf "$work/api"
      ;;
    *)
      for f in $files; do cp "$dir/$f" "$out/"; done
      ;;
  esac
  echo "$module $files" > "$out/.source"
  log "$group: $(ls "$out" | tr '\n' ' ')← $module"
done
log "CRD en $dest ($(( $(date +%s) - start )) s)"
