#!/usr/bin/env bash
# The main job: runs examples/hello's pipeline step through this plugin's hooks exactly as
# a Buildkite agent would, on the configured Docker engine or a private one started here,
# pushing to a registry on 127.0.0.1. Extra arguments go to the runner (dist/cli.js run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh

# The busybox step runs once the engine is up: on a laptop it may need the engine.
exec bash scripts/with-engine.sh bash -c '
  bash scripts/provide-busybox.sh "$0/busybox" &&
    BUILDKIT_EXAMPLE_REGISTRY=$BUILDKIT_TEST_REGISTRY exec node dist/cli.js run --dir "$0" "$@"' examples/hello "$@"
