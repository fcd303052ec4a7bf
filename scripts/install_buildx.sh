#!/usr/bin/env bash
# Install the docker-buildx CLI plugin from Debian's sid packages when `docker buildx`
# is missing. Bookworm has no docker-buildx package; sid's static Go binary runs fine
# on bookworm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

plugin_dir="${HOME}/.docker/cli-plugins"
if docker buildx version >/dev/null 2>&1; then
  echo "[buildx] ya instalado: $(docker buildx version)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash "$here/debian_download.sh" sid docker-buildx "$tmp"
dpkg -x "$tmp"/docker-buildx_*.deb "$tmp/x"
mkdir -p "$plugin_dir"
install -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-buildx" "$plugin_dir/docker-buildx"
echo "[buildx] instalado: $(docker buildx version)"
