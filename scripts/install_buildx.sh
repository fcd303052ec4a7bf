#!/usr/bin/env bash
# Install the docker-buildx CLI plugin from Debian's sid packages when `docker buildx`
# is missing. Bookworm has no docker-buildx package; sid's static Go binary runs fine
# on bookworm. A private apt state dir keeps the host's apt configuration untouched.
set -euo pipefail

plugin_dir="${HOME}/.docker/cli-plugins"
if docker buildx version >/dev/null 2>&1; then
  echo "[buildx] ya instalado: $(docker buildx version)"
  exit 0
fi

# Reuse the host's Debian mirror (never a hard-coded host).
mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
         | head -n 1 | tr -d ' ' || true)
if [ -z "$mirror" ]; then
  echo "[buildx] no encuentro un espejo de Debian en /etc/apt; buildx queda sin instalar." >&2
  exit 1
fi

state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/etc/preferences.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} sid main" > "$state/etc/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$state/etc/sources.list" -o "Dir::Etc::SourceParts=-"
          -o "Dir::Etc::Preferences=$state/etc/preferences" -o "Dir::Etc::PreferencesParts=$state/etc/preferences.d"
          -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
          -o "APT::Sandbox::User=root")
echo "[buildx] descargando docker-buildx desde ${mirror%/} sid…"
apt-get "${apt_opts[@]}" update -q >/dev/null
(cd "$state" && apt-get "${apt_opts[@]}" download docker-buildx >/dev/null)
dpkg -x "$state"/docker-buildx_*.deb "$state/x"
mkdir -p "$plugin_dir"
install -m 0755 "$state/x/usr/libexec/docker/cli-plugins/docker-buildx" "$plugin_dir/docker-buildx"
echo "[buildx] instalado: $(docker buildx version)"
