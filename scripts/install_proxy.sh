#!/usr/bin/env bash
# Section 15.10's reverse proxy: HAProxy from Debian's .debs (pinned suite), unpacked
# with the libraries a minimal bookworm lacks and cached outside the repository. It runs
# as a local process (no engine needed), so the canary works in CI, on laptops and on
# Binder (binder/apt.txt installs the same package there). Nothing is installed system-wide.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

SUITE=${TEMA15_HAPROXY_SUITE:-bookworm}
cache=${TEMA15_CACHE:-$HOME/.cache/tema15}
dir="$cache/haproxy/$SUITE"
log() { printf '[proxy] %s\n' "$*"; }

if [ -x "$dir/bin/haproxy" ] && "$dir/bin/haproxy" -v >/dev/null 2>&1; then
  log "HAProxy en caché: $dir/bin/haproxy"
  exit 0
fi
if command -v haproxy >/dev/null 2>&1; then
  log "HAProxy del sistema: $(command -v haproxy)"
  exit 0
fi
debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
for package in haproxy liblua5.3-0 libopentracing-c-wrapper0 libopentracing1; do
  bash "$here/debian_download.sh" "$SUITE" "$package" "$debs"
done
root="$dir/root"
rm -rf "$root" && mkdir -p "$root" "$dir/bin"
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root"; done
# A wrapper: the cached libraries first, the host's own configuration never read.
cat > "$dir/bin/haproxy" <<WRAP
#!/bin/sh
export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$root/usr/sbin/haproxy" "\$@"
WRAP
chmod +x "$dir/bin/haproxy"
"$dir/bin/haproxy" -v | sed -n 1p  # sed reads it all: no SIGPIPE under pipefail
