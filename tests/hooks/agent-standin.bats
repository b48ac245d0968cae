#!/usr/bin/env bats
# The local runner's buildkite-agent stand-in (libexec/buildkite-agent): it must parse the
# calls the plugin makes as the real agent does, and refuse anything else.

bats_require_minimum_version 1.5.0

setup() {
  load helpers/agent
  load_libs
  AGENT=$PLUGIN_DIR/libexec/buildkite-agent
  export BUILDKITE_LOCAL_AGENT_DIR=$BATS_TEST_TMPDIR/agent
  mkdir -p "$BUILDKITE_LOCAL_AGENT_DIR/secrets"
  export BUILDKITE_JOB_ID=job-1
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

@test "secret get: several keys or --format json print JSON, --format env shell lines; every value is redacted unless --skip-redaction" {
  printf 'b1' >"$BUILDKITE_LOCAL_AGENT_DIR/secrets/other"
  run --separate-stderr "$AGENT" secret get deploy_key OTHER
  assert_success
  assert_equal "$output" '{"deploy_key":"line one\nline two","OTHER":"b1"}'
  run --separate-stderr "$AGENT" secret get --format=env other
  assert_equal "$output" "OTHER='b1'"
  assert_equal "$(wc -l <"$BUILDKITE_LOCAL_AGENT_DIR/redactions")" 3
  run "$AGENT" secret get --skip-redaction --job job-1 other
  assert_success
  assert_equal "$(wc -l <"$BUILDKITE_LOCAL_AGENT_DIR/redactions")" 3
}

@test "secret get refuses what the agent refuses: no key, an unknown format or flag" {
  run "$AGENT" secret get
  assert_failure 64
  assert_output --partial "at least one secret key must be provided"
  run "$AGENT" secret get --format yaml deploy_key
  assert_failure 64
  run "$AGENT" secret get --verbose deploy_key
  assert_failure 64
}

@test "redactor add reads the value from stdin and records only its hash" {
  run bash -c "printf '  hunter2\n' | '$AGENT' redactor add"
  assert_success
  assert_equal "$(cat "$BUILDKITE_LOCAL_AGENT_DIR/redactions")" "$(printf hunter2 | sha256sum | cut -d' ' -f1)"
  run grep -r hunter2 "$BUILDKITE_LOCAL_AGENT_DIR"
  assert_failure
}

@test "redactor add reads a FILE argument, and each value of a JSON object with --format json" {
  printf 'from-file\n' >"$BATS_TEST_TMPDIR/value"
  run "$AGENT" redactor add "$BATS_TEST_TMPDIR/value"
  assert_success
  run bash -c "echo '{\"a\":\"one\",\"b\":\"two\"}' | '$AGENT' redactor add --format json"
  assert_success
  assert_equal "$(cat "$BUILDKITE_LOCAL_AGENT_DIR/redactions")" "$(for v in from-file one two; do printf %s "$v" | sha256sum | cut -d' ' -f1; done)"
}

@test "redactor add refuses an unknown format and an empty value" {
  run bash -c "echo x | '$AGENT' redactor add --format yaml"
  assert_failure 64
  run bash -c "printf ' \n' | '$AGENT' redactor add"
  assert_failure 64
  assert_output --partial "an empty value"
}

@test "oidc request-token: --audience in both flag forms, or the agent's default audience; a bad --lifetime is refused" {
  run "$AGENT" oidc request-token --audience=sts.amazonaws.com --lifetime 300 --claim organization_id
  assert_success
  run "$AGENT" oidc request-token
  assert_success
  assert_equal "$(cat "$BUILDKITE_LOCAL_AGENT_DIR/oidc-requests")" $'sts.amazonaws.com\nhttps://buildkite.com/local'
  run "$AGENT" oidc request-token --lifetime -1
  assert_failure 64
  run "$AGENT" oidc request-token --scope x
  assert_failure 64
}

@test "secret get and oidc request-token need a job id, from --job or BUILDKITE_JOB_ID" {
  run "$AGENT" secret get --job job-2 deploy_key
  assert_success
  unset BUILDKITE_JOB_ID
  run "$AGENT" secret get deploy_key
  assert_failure 64
  assert_output --partial "a job id is required"
  run "$AGENT" oidc request-token --audience sts.amazonaws.com
  assert_failure 64
  run "$AGENT" oidc request-token --job job-2
  assert_success
  assert_output --regexp '\.job-2$'
}

@test "meta-data set refuses a blank key or value; annotate a context over 100 characters; an unknown subcommand" {
  run "$AGENT" meta-data set key ' '
  assert_failure 64
  run "$AGENT" meta-data set ' ' value
  assert_failure 64
  run "$AGENT" annotate body --context "$(printf 'c%.0s' {1..101})"
  assert_failure 64
  assert_output --partial "at most 100 characters"
  run "$AGENT" annotatex body
  assert_failure 64
}
