#!/usr/bin/env bash
# Usage: scripts/provide-busybox.sh DEST
#
# Puts a static busybox at DEST (the example images copy it into `FROM scratch`): Debian's
# busybox-static (/bin/busybox, or BUSYBOX_STATIC), else the one in the busybox:musl image
# on the configured engine (a laptop). A DEST that is already a static executable is kept.
# It is written to a temporary file beside DEST and renamed into place only once it is
# complete, so a failed or interrupted run leaves nothing behind.
set -euo pipefail
# shellcheck source=lib/elf.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/elf.bash"

dest=${1:?usage: provide-busybox.sh DEST}
if [ -x "$dest" ] && elf_is_static "$dest"; then exit 0; fi

tmp=$(mktemp "$(dirname "$dest")/.busybox.XXXXXX")
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

source=${BUSYBOX_STATIC:-/bin/busybox}
if [ -x "$source" ] && elf_is_static "$source"; then
  cp "$source" "$tmp"
else
  echo "provide-busybox: no static busybox at $source; taking the one in the busybox:musl image" >&2
  docker run --rm --entrypoint cat busybox:musl /bin/busybox >"$tmp"
fi
elf_is_static "$tmp" || { echo "provide-busybox: the busybox found is not a static executable" >&2; exit 1; }
chmod 0755 "$tmp"
mv -f "$tmp" "$dest"
