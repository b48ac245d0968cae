#!/usr/bin/env bats
# With node-download: false and no Node.js, the error block is printed once per job: by
# the environment hook, not again by pre-exit.

setup() {
  load helpers/agent
  load_libs
  export TMPDIR=$BATS_TEST_TMPDIR
  export BUILDKITE_JOB_ID=job-$BATS_TEST_NUMBER
  export BUILDKITE_PLUGIN_NAME=BUILDKIT
  export BUILDKITE_PLUGIN_CONFIGURATION='{"image":"127.0.0.1:5000/app","tags":["1"]}'
  export BUILDKITE_PLUGIN_BUILDKIT_NODE_DOWNLOAD=false
  export BUILDKIT_PLUGIN_NODE_CACHE=$BATS_TEST_TMPDIR/node-cache
  unset BUILDKIT_PLUGIN_STATE_DIR BUILDKIT_PLUGIN_NO_NODE
  # PATH without node: every tool of /usr/bin and /bin but Node.js.
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  for f in /usr/bin/* /bin/*; do
    case ${f##*/} in node | nodejs | npm | npx | corepack) continue ;; esac
    [ -e "$BATS_TEST_TMPDIR/bin/${f##*/}" ] || ln -s "$f" "$BATS_TEST_TMPDIR/bin/${f##*/}"
  done
}

@test "environment then pre-exit of one job: the no-Node error block once" {
  cat >"$BATS_TEST_TMPDIR/job" <<JOB
. "$PLUGIN_DIR/hooks/environment"
echo "environment status \$?"
. "$PLUGIN_DIR/hooks/pre-exit"
echo "pre-exit status \$?"
JOB
  run env PATH="$BATS_TEST_TMPDIR/bin" bash "$BATS_TEST_TMPDIR/job"
  assert_line "environment status 1"
  assert_line "pre-exit status 0"
  assert_equal "$(grep -c -- 'node-download is false, so the plugin will not download it.' <<<"$output")" 1
  assert_equal "$(grep -c -- 'the hooks need Node.js >= 20' <<<"$output")" 1
  assert_equal "$(grep -c -- '^\^\^\^ +++' <<<"$output")" 1
}

@test "pre-exit alone (no earlier hook failed) still says why it cannot run" {
  run env PATH="$BATS_TEST_TMPDIR/bin" bash -c ". '$PLUGIN_DIR/hooks/pre-exit'"
  assert_failure
  assert_output --partial "node-download is false"
}
