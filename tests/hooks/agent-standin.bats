#!/usr/bin/env bats
# The local runner's buildkite-agent stand-in (libexec/buildkite-agent): it must parse the
# secret and redactor calls as agent 3.66+ does, and refuse anything else.

bats_require_minimum_version 1.5.0

setup() {
  load helpers/agent
  load_libs
  AGENT=$PLUGIN_DIR/libexec/buildkite-agent
  export BUILDKITE_LOCAL_AGENT_DIR=$BATS_TEST_TMPDIR/agent
  mkdir -p "$BUILDKITE_LOCAL_AGENT_DIR/secrets"
  printf 'line one\nline two' >"$BUILDKITE_LOCAL_AGENT_DIR/secrets/deploy_key"
}

@test "secret get KEY prints the value and a newline, with the key in any case" {
  run --separate-stderr "$AGENT" secret get DEPLOY_KEY
  assert_success
  assert_equal "$output" $'line one\nline two'
  # 17 bytes of value, then the newline the agent prints after it.
  assert_equal "$("$AGENT" secret get deploy_key | wc -c)" 18
}

@test "secret get of an unknown key fails on stderr, naming the key" {
  run --separate-stderr "$AGENT" secret get nope
  assert_failure 1
  assert_equal "$output" ""
  # shellcheck disable=SC2154 # run --separate-stderr sets it
  assert_equal "$stderr" $'fatal: Failed to fetch some secrets:\n - secret nope: not found'
}

@test "secret get refuses extra arguments and bad keys" {
  run "$AGENT" secret get a b
  assert_failure 64
  assert_output --partial "usage: secret get KEY"
  run "$AGENT" secret get ../deploy_key
  assert_failure 64
}

@test "redactor add reads the value from stdin and records only its hash" {
  run bash -c "printf '  hunter2\n' | '$AGENT' redactor add"
  assert_success
  assert_equal "$(cat "$BUILDKITE_LOCAL_AGENT_DIR/redactions")" "$(printf hunter2 | sha256sum | cut -d' ' -f1)"
  run grep -r hunter2 "$BUILDKITE_LOCAL_AGENT_DIR"
  assert_failure
}

@test "redactor add refuses a value on argv and an empty value" {
  run "$AGENT" redactor add hunter2
  assert_failure 64
  run bash -c "printf ' \n' | '$AGENT' redactor add"
  assert_failure 64
  assert_output --partial "an empty value"
}
