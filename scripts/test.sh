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
npx --no-install eslint .
npx --no-install prettier --check --log-level warn .
shellcheck -x hooks/environment hooks/command hooks/pre-exit hooks/lib/*.bash scripts/lib/*.bash libexec/buildkite-agent scripts/*.sh .ci/run \
  tests/hooks/helpers/*.bash
shellcheck -x -S warning tests/hooks/*.bats tests/scripts/*.bats

step "unit tests"
npx --no-install jest tests/unit 2>&1 | tee "$logs/unit"

step "hook tests (bats)"
node_modules/bats/bin/bats tests/hooks tests/scripts | tee "$logs/hooks"

step "the main job (README command 1), twice, on a fresh copy of the tracked files"
fresh=$(mktemp -d)
trap 'rm -rf "$logs" "$fresh"' EXIT
git ls-files -z | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C "$fresh"
for run in 1 2; do
  # Its own TMPDIR: the job's state root stays in the copy, not in /tmp.
  (cd "$fresh" && mkdir -p tmp && TMPDIR=$fresh/tmp bash scripts/demo.sh) >"$logs/demo" 2>&1 || { cat "$logs/demo"; echo "the main job failed (run $run)" >&2; exit 1; }
  grep -E '^built 127\.0\.0\.1:[0-9]+/hello:[^ ]+ .*\(sha256:[0-9a-f]{64}\)$' "$logs/demo"
  grep -x 'exit status 0' "$logs/demo"
  main_job_runs=$run
done

step "end-to-end tests (real engine and registry, and a real buildkitd where one can be had)"
# buildkitd is in no package here: scripts/provide-buildkit.sh finds or builds one, or says
# SKIPPED, and the remote and daemonless tests then skip loudly.
if buildkit_bin=$(bash scripts/provide-buildkit.sh 2>"$logs/buildkit"); then
  export BUILDKIT_TEST_BIN_DIR=$buildkit_bin
else
  cat "$logs/buildkit" >&2
  BUILDKIT_TEST_SKIP_REASON=$(sed -n 's/^SKIPPED: no buildkitd (\(.*\))$/\1/p' "$logs/buildkit" | tail -n1)
  export BUILDKIT_TEST_SKIP_REASON
fi
WITH_CLASSIC_ENGINE=1 bash scripts/with-engine.sh npx --no-install jest --runInBand tests/e2e 2>&1 | tee "$logs/e2e"

# jest's summary line: "Tests:       2 skipped, 40 passed, 42 total".
jest_count() { sed -n "s/^Tests:.* \([0-9]*\) $1.*/\1/p" "$2" | tail -n1 | grep . || echo 0; }
bats_skipped=$(grep -c '^ok .* # skip' "$logs/hooks" || true)
bats_passed=$(($(grep -c '^ok ' "$logs/hooks") - bats_skipped))
passed=$(($(jest_count passed "$logs/unit") + bats_passed + main_job_runs + $(jest_count passed "$logs/e2e")))
skipped=$(($(jest_count skipped "$logs/unit") + bats_skipped + $(jest_count skipped "$logs/e2e")))
echo
if [ "$skipped" -gt 0 ]; then echo "$passed passed, 0 failed, $skipped skipped"; else echo "$passed passed, 0 failed"; fi
