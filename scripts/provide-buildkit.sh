#!/usr/bin/env bash
# Usage: scripts/provide-buildkit.sh
#
# Prints the absolute path of a directory holding executable buildkitd, buildctl and
# buildctl-daemonless.sh (BuildKit v0.13.2), or prints one line
# "SKIPPED: no buildkitd (REASON)" on stderr and exits 3. Looks, in order, at:
#   1. BUILDKIT_BIN_DIR, if it is set and complete;
#   2. the cache, /var/cache/buildkit-plugin-tests/buildkit-v0.13.2/bin;
#   3. buildkitd and buildctl on PATH (linked into one directory with the daemonless script
#      from the cache or the source);
#   4. a build from source: BUILDKIT_SOURCE_DIR, else the v0.13.2 tree in the cache (from
#      `git archive v0.13.2`), with Debian's go 1.23 (installed from bookworm-backports when
#      root). It takes a minute or two, and writes into the cache.
# Debian packages no BuildKit, and GitHub is out of reach here, so there is no download.
set -euo pipefail

version=v0.13.2
revision=2e18d709fefdcc2db20853ee241c75b058189d39
cache=/var/cache/buildkit-plugin-tests
bin=$cache/buildkit-$version/bin
src=${BUILDKIT_SOURCE_DIR:-$cache/src/buildkit-$version}
daemonless=examples/buildctl-daemonless/buildctl-daemonless.sh
go=/usr/lib/go-1.23/bin/go

log() { echo "provide-buildkit: $*" >&2; }
skip() { echo "SKIPPED: no buildkitd ($*)" >&2; exit 3; }
complete() {
  local f
  for f in buildkitd buildctl buildctl-daemonless.sh; do [ -x "$1/$f" ] || return 1; done
}
found() { (CDPATH='' cd "$1" && pwd); exit 0; }

if [ -n "${BUILDKIT_BIN_DIR:-}" ]; then
  complete "$BUILDKIT_BIN_DIR" && found "$BUILDKIT_BIN_DIR"
  log "BUILDKIT_BIN_DIR=$BUILDKIT_BIN_DIR lacks buildkitd, buildctl or buildctl-daemonless.sh; looking further"
fi

complete "$bin" && found "$bin"

if kd=$(command -v buildkitd) && ctl=$(command -v buildctl); then
  script=
  for s in "$bin/buildctl-daemonless.sh" "$src/$daemonless"; do
    if [ -f "$s" ]; then script=$s; break; fi
  done
  [ -n "$script" ] || skip "buildkitd is on PATH, but there is no buildctl-daemonless.sh in $bin or $src"
  links=$cache/path-bin
  mkdir -p "$links" 2>/dev/null || links=${XDG_CACHE_HOME:-$HOME/.cache}/buildkit-plugin-tests/path-bin
  mkdir -p "$links" || skip "buildkitd is on PATH, but $links cannot be created"
  ln -sfn "$(readlink -f "$kd")" "$links/buildkitd"
  ln -sfn "$(readlink -f "$ctl")" "$links/buildctl"
  install -m 0755 "$script" "$links/buildctl-daemonless.sh"
  found "$links"
fi

[ -f "$src/cmd/buildkitd/main.go" ] || skip "none on PATH or in $bin, and no BuildKit source at $src (set BUILDKIT_SOURCE_DIR)"
mkdir -p "$bin" 2>/dev/null || skip "cannot write $bin to build BuildKit from $src (run as root)"

# Concurrent test runs wait for one build instead of each building.
exec 9>"$cache/.provide-buildkit.lock"
flock 9
complete "$bin" && found "$bin"

if [ ! -x "$go" ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    skip "no go 1.23 at $go to build $src; run as root on Debian to install golang-1.23-go from bookworm-backports"
  fi
  log "installing golang-1.23-go from bookworm-backports"
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '/^deb / && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || skip "no go 1.23, and no Debian mirror in the apt sources to install it from"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" >/etc/apt/sources.list.d/bookworm-backports.sources
  fi
  # Third-party sources on this machine may be unreachable; apt still refreshes the rest.
  apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports golang-1.23-go >&2 ||
    skip "installing golang-1.23-go from bookworm-backports failed"
fi

# Built into a temporary directory and moved into place, so an interrupted build leaves the
# cache incomplete rather than holding a half-written binary.
tmp=$(mktemp -d "$bin/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export GOCACHE=$cache/go/cache GOPATH=$cache/go/path GOFLAGS=-mod=vendor CGO_ENABLED=0 GOTOOLCHAIN=local
# Stamped like upstream's release builds; the cache directory is named for this version.
ldflags="-X github.com/moby/buildkit/version.Version=$version -X github.com/moby/buildkit/version.Revision=$revision"
start=$SECONDS
for cmd in buildkitd buildctl; do
  log "building $cmd from $src (a minute or two on a cold cache)"
  (cd "$src" && "$go" build -tags "osusergo netgo static_build seccomp" -ldflags "$ldflags" -o "$tmp/$cmd" "./cmd/$cmd") >&2 ||
    skip "go build of $cmd from $src failed; see above"
done
install -m 0755 "$src/$daemonless" "$tmp/buildctl-daemonless.sh"
# The daemonless script goes last: it is what makes the directory count as complete.
mv -f "$tmp/buildkitd" "$tmp/buildctl" "$bin/"
mv -f "$tmp/buildctl-daemonless.sh" "$bin/"
log "built BuildKit $version into $bin in $((SECONDS - start))s"
found "$bin"
