#!/usr/bin/env bash
# Usage: scripts/secrets-audit.sh [ROUNDS]
#
# The build-secrets audit (#11), on every engine this machine can run: a build that reads one
# secret of each kind (job variable, file, Buildkite secret), then a search for each value in
# the job log, the pushed image (layers, config, history), its provenance (mode=max), the
# metadata file, annotations, meta-data and the builder's state; then ROUNDS (default 20)
# cancellations mid-build per engine, counting what each leaves: processes, builders,
# containers, state and secret files. Prints the figures; exits 1 if any is not zero.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-20}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS] (a positive number)" >&2; exit 2; }

npm run --silent build
report=$(mktemp)
trap 'rm -f "$report"' EXIT
if bin=$(bash scripts/provide-buildkit.sh); then
  export BUILDKIT_TEST_BIN_DIR=$bin
else
  echo "no buildkitd here: the audit covers the Docker engine only" >&2
fi
status=0
SECRETS_AUDIT_ROUNDS=$rounds SECRETS_AUDIT_REPORT=$report \
  bash scripts/with-engine.sh npx --no-install jest --runInBand tests/e2e/secrets.test.ts >&2 || status=$?

node - "$report" <<'JS'
const lines = require('node:fs').readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map(JSON.parse);
const pad = (s, n) => String(s).padEnd(n);
console.log('\nleak search (one build with all three kinds of secret, provenance mode=max, pushed)');
console.log(`${pad('engine', 16)}${pad('places searched', 17)}${pad('leaks', 7)}leftovers`);
for (const l of lines.filter((l) => 'searched' in l)) console.log(`${pad(l.engine, 16)}${pad(l.searched, 17)}${pad(l.leaks, 7)}${l.leftovers}`);
console.log('\ncancelled mid-build (SIGTERM to the hook\'s process group, then pre-exit)');
console.log(`${pad('engine', 16)}${pad('rounds', 8)}${pad('leftovers', 11)}${pad('leaks', 7)}${pad('cancel to job end, ms', 24)}build processes gone after the job, ms`);
console.log(`${pad('', 42)}${pad('(median / max)', 24)}(median / max)`);
const spread = (values) => {
  const ms = [...values].sort((a, b) => a - b);
  return `${ms[Math.floor(ms.length / 2)]} / ${ms[ms.length - 1]}`;
};
for (const l of lines.filter((l) => 'rounds' in l)) {
  console.log(`${pad(l.engine, 16)}${pad(l.rounds, 8)}${pad(l.leftovers, 11)}${pad(l.leaks, 7)}${pad(spread(l.cancelToEndMs), 24)}${spread(l.lingerMs)}`);
}
JS
exit "$status"
