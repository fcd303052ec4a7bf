#!/usr/bin/env bash
# Download one .deb from another Debian suite (e.g. trixie, sid) into DIR without
# touching the host's apt configuration: a private apt state directory, and the
# host's own Debian mirror (never a hard-coded host).
# Usage: debian_download.sh SUITE PACKAGE DIR
set -euo pipefail
suite=$1 package=$2 out=$3

mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
         | head -n 1 | tr -d ' ' || true)
mirror=${TEMA15_DEBIAN_MIRROR:-$mirror}
if [ -z "$mirror" ]; then
  echo "[debian] no encuentro un espejo de Debian en /etc/apt (define TEMA15_DEBIAN_MIRROR)." >&2
  exit 1
fi

state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/etc/preferences.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} $suite main" > "$state/etc/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$state/etc/sources.list" -o "Dir::Etc::SourceParts=-"
          -o "Dir::Etc::Preferences=$state/etc/preferences" -o "Dir::Etc::PreferencesParts=$state/etc/preferences.d"
          -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
          -o "APT::Sandbox::User=root")
echo "[debian] descargando $package desde ${mirror%/} $suite…"
apt-get "${apt_opts[@]}" update -q >/dev/null
mkdir -p "$out"
(cd "$out" && apt-get "${apt_opts[@]}" download "$package" >/dev/null)
