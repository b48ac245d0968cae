#!/usr/bin/env bash
# The main job: runs examples/hello's pipeline step through this plugin's hooks exactly as
# a Buildkite agent would, on the configured Docker engine or a private one started here,
# pushing to a registry on 127.0.0.1. Extra arguments go to the runner (dist/cli.js run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh

example=examples/hello
if [ ! -f "$example/busybox" ]; then
  if [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'; then
    cp /bin/busybox "$example/busybox"
  else
    # A laptop without Debian's busybox-static: take one from the busybox image (pulled once).
    docker run --rm --entrypoint cat busybox:musl /bin/busybox >"$example/busybox"
    chmod +x "$example/busybox"
  fi
fi

exec bash scripts/with-engine.sh bash -c \
  'BUILDKIT_EXAMPLE_REGISTRY=$BUILDKIT_TEST_REGISTRY exec node dist/cli.js run --dir "$0" "$@"' "$example" "$@"
