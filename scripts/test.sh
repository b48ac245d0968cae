#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, checks that dist/ is
# built from src/, then runs the unit, hook (bats) and end-to-end suites.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n=== %s\n' "$*"; }

# Each suite's output is kept to count what passed for the closing line.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

step "install what is missing"
bash scripts/install-deps.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "dist/ matches src/"
before=$(cat dist/* 2>/dev/null | sha256sum)
npm run --silent build
if [ "$before" != "$(cat dist/* | sha256sum)" ]; then
  echo "dist/ was stale and has been rebuilt: commit dist/ with the change to src/" >&2
  exit 1
fi
# In CI (a clean clone) the rebuilt bundles must also be exactly the committed ones.
if [ -n "${CI:-}" ] && git rev-parse --git-dir >/dev/null 2>&1; then
  git diff --exit-code --stat -- dist
fi

step "types and lint"
npx --no-install tsc --noEmit
shellcheck -x hooks/environment hooks/command hooks/pre-exit hooks/lib/*.bash libexec/buildkite-agent scripts/*.sh .ci/run \
  tests/hooks/helpers/*.bash
shellcheck -x -S warning tests/hooks/*.bats

step "unit tests"
npx --no-install jest tests/unit 2>&1 | tee "$logs/unit"

step "hook tests (bats)"
node_modules/bats/bin/bats tests/hooks | tee "$logs/hooks"

step "end-to-end tests (real engine and registry)"
WITH_CLASSIC_ENGINE=1 bash scripts/with-engine.sh npx --no-install jest --runInBand tests/e2e 2>&1 | tee "$logs/e2e"

jest_passed() { sed -n 's/^Tests: *\([0-9]*\) passed.*/\1/p' "$1"; }
passed=$(($(jest_passed "$logs/unit") + $(grep -c '^ok ' "$logs/hooks") + $(jest_passed "$logs/e2e")))
echo
echo "$passed passed, 0 failed"
