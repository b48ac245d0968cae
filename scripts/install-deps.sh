#!/usr/bin/env bash
# Installs what the tests and the local runner need on a Debian machine (as root), and
# nothing that is already there. On a laptop with Docker + buildx it installs nothing.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }

docker_ok() {
  have docker && have dockerd && docker buildx version >/dev/null 2>&1
}

if ! have apt-get; then
  docker_ok || { echo "install-deps: need Docker (dockerd) and docker buildx" >&2; exit 1; }
  exit 0
fi

docker_ok || need+=(docker.io docker-cli docker-buildx)
have docker-registry || need+=(docker-registry)
[ -x /bin/busybox ] || need+=(busybox-static)
have shellcheck || need+=(shellcheck)
have htpasswd || need+=(apache2-utils)
have openssl || need+=(openssl)
have curl || need+=(curl)
[ "${#need[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${need[*]}; run as root or install them yourself" >&2
  exit 1
fi

# docker.io 26 / docker-buildx come from trixie, pinned low so nothing else upgrades.
if [[ " ${need[*]} " == *" docker.io "* ]] && [ ! -f /etc/apt/sources.list.d/trixie.sources ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb / && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { echo "install-deps: cannot find the Debian mirror in apt sources" >&2; exit 1; }
  cat >/etc/apt/sources.list.d/trixie.sources <<SRC
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat >/etc/apt/preferences.d/trixie-pin <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
fi

# Third-party sources on this machine may be unreachable; apt still refreshes the rest.
apt-get update -qq || true
export DEBIAN_FRONTEND=noninteractive
trixie=()
rest=()
for p in "${need[@]}"; do
  case "$p" in docker.io|docker-cli|docker-buildx) trixie+=("$p") ;; *) rest+=("$p") ;; esac
done
# Installing docker.io must not start the machine-wide daemon (it would bring a bridge up):
# the tests start a private engine of their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
[ "${#rest[@]}" -eq 0 ] || apt-get install -y -qq --no-install-recommends "${rest[@]}"
[ "${#trixie[@]}" -eq 0 ] || apt-get install -y -qq --no-install-recommends -t trixie "${trixie[@]}"
