#!/usr/bin/env bash
# Install the docker-buildx CLI plugin from Debian's sid packages when it is missing.
# Bookworm has no docker-buildx package; sid's static Go binary runs fine on bookworm.
# As root it goes to a system plugin directory, where the docker CLI also finds it when a
# pipeline job points DOCKER_CONFIG at a directory of its own (15.5): the jobs' `docker
# build` then uses BuildKit (course/pipelines.py). Otherwise, to ~/.docker/cli-plugins.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" = 0 ]; then
  plugin_dir=/usr/local/lib/docker/cli-plugins
else
  plugin_dir="${HOME}/.docker/cli-plugins"
fi
if [ -x "$plugin_dir/docker-buildx" ] && docker buildx version >/dev/null 2>&1; then
  echo "[buildx] ya instalado: $(docker buildx version)"
  exit 0
fi
mkdir -p "$plugin_dir"
home_copy="${HOME}/.docker/cli-plugins/docker-buildx"
if [ -x "$home_copy" ] && [ "$home_copy" != "$plugin_dir/docker-buildx" ]; then
  install -m 0755 "$home_copy" "$plugin_dir/docker-buildx"  # installed before in $HOME
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  bash "$here/debian_download.sh" sid docker-buildx "$tmp"
  dpkg -x "$tmp"/docker-buildx_*.deb "$tmp/x"
  install -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-buildx" "$plugin_dir/docker-buildx"
fi
echo "[buildx] instalado en $plugin_dir: $(docker buildx version)"
