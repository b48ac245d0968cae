#!/usr/bin/env bash
# Installs what the tests and the local runner need on a Debian machine (as root), and
# nothing that is already there. On a laptop with Docker + buildx it installs nothing.
set -euo pipefail
# shellcheck source=lib/elf.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/elf.bash"

need=()
have() { command -v "$1" >/dev/null 2>&1; }

# buildx, and an engine to start (dockerd) or one already running (a laptop's Docker).
docker_ok() {
  have docker && docker buildx version >/dev/null 2>&1 && { have dockerd || docker info >/dev/null 2>&1; }
}

if ! have apt-get; then
  docker_ok || { echo "install-deps: need Docker with the buildx plugin (and a running engine)" >&2; exit 1; }
  exit 0
fi

docker_ok || need+=(docker.io docker-cli docker-buildx)
have docker-registry || need+=(docker-registry)
[ -x /bin/busybox ] || need+=(busybox-static)
have shellcheck || need+=(shellcheck)
have htpasswd || need+=(apache2-utils)
have openssl || need+=(openssl)
have curl || need+=(curl)

# Multi-platform tests: QEMU runs foreign RUN steps (binfmt_misc), and a static arm64
# busybox goes into the test images (the x86_64 one is /bin/busybox).
arm64_busybox=/var/cache/buildkit-plugin-tests/busybox-arm64
have qemu-aarch64-static || need+=(qemu-user-static)
binfmt_ok() { [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; }
emulation_ok() { binfmt_ok && elf_is_arm64 "$arm64_busybox"; }

[ "${#need[@]}" -eq 0 ] && emulation_ok && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if [ "${#need[@]}" -eq 0 ]; then
    echo "install-deps: warning: no arm64 emulation (binfmt_misc qemu-aarch64) or no $arm64_busybox; the multi-platform tests need root to set them up" >&2
    exit 0
  fi
  if docker_ok; then
    # A developer's machine with Docker: the rest only matters to some tests.
    echo "install-deps: warning: missing ${need[*]}; run as root to install them (some tests need them)" >&2
    exit 0
  fi
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
[ "${#need[@]}" -eq 0 ] || apt-get update -qq || true
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

# binfmt_misc: qemu-user-static registers its handlers only through systemd or binfmt-support,
# and neither runs here. Register qemu-aarch64 from the package's own binfmt.d entry (flag F:
# the interpreter is opened now, so it also works inside build containers).
if ! binfmt_ok; then
  conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  fi
  if [ -f "$conf" ] && [ -w /proc/sys/fs/binfmt_misc/register ]; then
    cat "$conf" >/proc/sys/fs/binfmt_misc/register 2>/dev/null || true
  fi
  binfmt_ok || echo "install-deps: warning: could not register qemu-aarch64 with binfmt_misc; arm64 RUN steps (the multi-platform tests) will fail" >&2
fi

# The arm64 busybox-static package, from a private arm64 package list: no foreign
# architecture is added to the machine's dpkg, so later apt runs are unchanged.
if ! elf_is_arm64 "$arm64_busybox"; then
  tmp=$(mktemp -d)
  apt_arm64=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Sandbox::User=root
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    -o Dir::State::status=/dev/null)
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
  apt-get "${apt_arm64[@]}" update -qq >/dev/null 2>&1 || true
  if (cd "$tmp" && apt-get "${apt_arm64[@]}" download -qq busybox-static) &&
    dpkg -x "$tmp"/busybox-static_*_arm64.deb "$tmp/x" && elf_is_arm64 "$tmp/x/bin/busybox"; then
    install -D -m 0755 "$tmp/x/bin/busybox" "$arm64_busybox"
    rm -rf "$tmp"
  else
    rm -rf "$tmp"
    echo "install-deps: could not get busybox-static:arm64 from the Debian mirror" >&2
    exit 1
  fi
fi
