#!/usr/bin/env bats
# The bash shims, sourced through a wrapper like the agent's, on the real dist/ bundles.

setup() {
  load helpers/agent
  load_libs
  export TMPDIR=$BATS_TEST_TMPDIR
  export BUILDKITE_JOB_ID=job-$BATS_TEST_NUMBER
  export BUILDKITE_PLUGIN_NAME=BUILDKIT
  export BUILDKITE_PLUGIN_CONFIGURATION='{"image":"127.0.0.1:5000/app","tags":["1"]}'
  unset BUILDKIT_PLUGIN_STATE_DIR
}

@test "environment exports the job's private state dir to later hooks" {
  run agent_hook environment
  assert_success
  state=$(after_env BUILDKIT_PLUGIN_STATE_DIR)
  assert_equal "$state" "$TMPDIR/buildkite-plugin-buildkit-$(id -u)/job-$BATS_TEST_NUMBER"
  assert [ -d "$state" ]
  assert_equal "$(stat -c %a "$state")" 700
  assert_equal "$(stat -c %a "$(dirname "$state")")" 700
}

@test "the sourced hook leaves no set -e and no export file behind" {
  run agent_hook environment
  assert_success
  refute_output --partial "exported"
  run after_env BUILDKIT_TEST_SHELL_FLAGS
  refute_output --partial e
  run bash -c "ls '$TMPDIR' | grep -c buildkit-plugin-exports"
  assert_output 0
}

@test "the hook restores the agent wrapper's own TERM trap" {
  cat >"$BATS_TEST_TMPDIR/wrapper" <<WRAPPER
trap 'echo wrapper-trap' TERM
. "$PLUGIN_DIR/hooks/environment"
trap -p TERM
WRAPPER
  run bash "$BATS_TEST_TMPDIR/wrapper"
  assert_success
  assert_output "trap -- 'echo wrapper-trap' SIGTERM"
}

@test "a failing hook sourced under set -e still restores the wrapper's TERM trap" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"push":"yes"}'
  cat >"$BATS_TEST_TMPDIR/wrapper" <<WRAPPER
trap 'echo wrapper-trap' TERM
trap 'trap -p TERM' EXIT
set -e
. "$PLUGIN_DIR/hooks/environment"
echo "not reached"
WRAPPER
  run bash "$BATS_TEST_TMPDIR/wrapper"
  assert_failure 1
  refute_line "not reached"
  assert_line "trap -- 'echo wrapper-trap' SIGTERM"
}

@test "a cancel signal sent to the hook's shell alone still stops the build, and the hook waits for it" {
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  export STUB_LOG=$BATS_TEST_TMPDIR/docker.log
  cat >"$BATS_TEST_TMPDIR/bin/docker" <<'STUB'
#!/bin/bash
[ "$1 $2" = "buildx build" ] || exit 1
trap 'echo got-term >>"$STUB_LOG"; kill "$sleeper"; exit 1' TERM
echo started >>"$STUB_LOG"
sleep 30 &
sleeper=$!
wait
STUB
  chmod +x "$BATS_TEST_TMPDIR/bin/docker"
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH" BUILDKITE_PLUGIN_CONFIGURATION='{}'
  printf '. %q\necho "hook status $?"\n' "$PLUGIN_DIR/hooks/command" >"$BATS_TEST_TMPDIR/wrapper"
  bash "$BATS_TEST_TMPDIR/wrapper" >"$BATS_TEST_TMPDIR/out" 2>&1 &
  wrapper_pid=$!
  for _ in $(seq 100); do grep -q started "$STUB_LOG" 2>/dev/null && break; sleep 0.1; done
  kill -TERM "$wrapper_pid"
  wait "$wrapper_pid"
  run cat "$STUB_LOG"
  assert_output $'started\ngot-term'
  run cat "$BATS_TEST_TMPDIR/out"
  assert_output --partial "the build was cancelled (SIGTERM)"
  assert_output --partial "hook status 1"
}

@test "pre-exit removes the state dir created by environment" {
  agent_hook environment
  state=$(after_env BUILDKIT_PLUGIN_STATE_DIR)
  export BUILDKIT_PLUGIN_STATE_DIR=$state
  run agent_hook pre-exit
  assert_success
  assert [ ! -e "$state" ]
}

@test "pre-exit finds the state dir by job id when environment never exported it" {
  state=$TMPDIR/buildkite-plugin-buildkit-$(id -u)/job-$BATS_TEST_NUMBER
  mkdir -p "$state/sub" && chmod 700 "$(dirname "$state")"
  run agent_hook pre-exit
  assert_success
  assert [ ! -e "$state" ]
}

@test "pre-exit runs the clean-ups the job registered, then removes the state dir" {
  agent_hook environment
  state=$(after_env BUILDKIT_PLUGIN_STATE_DIR)
  export BUILDKIT_PLUGIN_STATE_DIR=$state
  printf '[{"argv":["touch","%s/first"],"title":"first step"},{"argv":["touch","%s/second"],"title":"second step"}]' \
    "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR" >"$state/cleanup.json"
  run agent_hook pre-exit
  assert_success
  assert_line --partial "buildkit: second step"
  assert [ -e "$BATS_TEST_TMPDIR/first" ]
  assert [ -e "$BATS_TEST_TMPDIR/second" ]
  assert [ ! -e "$state" ]
}

@test "pre-exit leaves alone a state dir path that is not the plugin's" {
  mkdir -p "$BATS_TEST_TMPDIR/precious"
  export BUILDKIT_PLUGIN_STATE_DIR=$BATS_TEST_TMPDIR/precious
  run agent_hook pre-exit
  assert_failure
  assert_output --partial "refusing to remove"
  assert [ -d "$BATS_TEST_TMPDIR/precious" ]
}

@test "invalid configuration fails the environment hook with every problem and creates nothing" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"push":"yes","tagz":["1"]}'
  run agent_hook environment
  assert_failure 1
  assert_output --partial "the buildkit plugin configuration is invalid"
  assert_output --partial "tagz: unknown option"
  assert_output --partial 'push: expected a boolean, got string "yes"'
  refute_output --partial "at "
  assert [ ! -e "$TMPDIR/buildkite-plugin-buildkit-$(id -u)/job-$BATS_TEST_NUMBER" ]
}

@test "the flattened form is read when the agent sends no JSON" {
  unset BUILDKITE_PLUGIN_CONFIGURATION
  export BUILDKITE_PLUGIN_BUILDKIT_PUSH=maybe
  run agent_hook environment
  assert_failure
  assert_output --partial 'push: expected a boolean, got string "maybe"'
}

@test "environment hook refuses an exporter spec buildx would refuse, naming the option, before the checkout" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"outputs":["type=local,dest=\"a,b\""]}'
  run agent_hook environment
  assert_failure 1
  assert_output --partial 'outputs[0]: bare " in a field that is not quoted'
  assert_equal "$(after_env BUILDKIT_PLUGIN_STATE_DIR)" ""
}

@test "environment hook exports BUILDKIT_HOST of a remote builder, the first in route order" {
  # Rendezvous hashing ranks builder-2 first for route key "a" and builder-1 first for "b".
  endpoints='["tcp://builder-1.internal:1234","tcp://builder-2.internal:1234"]'
  export BUILDKITE_PLUGIN_CONFIGURATION='{"builder":{"endpoint":'"$endpoints"',"route-key":"a","client":"buildctl"}}'
  run agent_hook environment
  assert_success
  assert_equal "$(after_env BUILDKIT_HOST)" "tcp://builder-2.internal:1234"
  export BUILDKITE_PLUGIN_CONFIGURATION='{"builder":{"endpoint":'"$endpoints"',"route-key":"b","client":"buildctl"}}'
  run agent_hook environment
  assert_equal "$(after_env BUILDKIT_HOST)" "tcp://builder-1.internal:1234"
}

@test "environment hook refuses what buildctl cannot do, naming the option and the engine" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"bake":{},"builder":{"driver":"daemonless"}}'
  run agent_hook environment
  assert_failure 1
  assert_output --partial "bake: the buildctl-daemonless engine (buildctl) cannot bake; it needs buildx"
  assert_equal "$(after_env BUILDKIT_PLUGIN_STATE_DIR)" ""
}

@test "command hook in dry-run prints the exact build command and exports nothing" {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"image":"127.0.0.1:5000/app","tags":["1"],"build-args":{"A":"x y"},"dry-run":true,"oci-labels":false}'
  export BUILDKITE_COMMAND='touch "$BATS_TEST_TMPDIR/ran"'
  run agent_hook command
  assert_success
  assert_output --partial "docker buildx build --progress plain --build-arg 'A=x y' --tag 127.0.0.1:5000/app:1 --metadata-file"
  assert [ ! -e "$BATS_TEST_TMPDIR/ran" ]
}

@test "a failing build fails the command hook with its exit status and opens its log group" {
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  printf '#!/bin/sh\nexit 3\n' >"$BATS_TEST_TMPDIR/bin/docker" && chmod +x "$BATS_TEST_TMPDIR/bin/docker"
  export BUILDKITE_PLUGIN_CONFIGURATION='{}'
  export BUILDKITE_COMMAND=
  run agent_hook command
  assert_failure 3
  assert_output --partial "the build failed (exit 3)"
  assert_output --partial "^^^ +++"
}

# Runs environment with an ECR image, then pre-exit with what environment exported.
ecr_job() {
  export BUILDKITE_PLUGIN_CONFIGURATION='{"image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/app","tags":["1"]}'
  agent_hook environment
  for name in BUILDKIT_PLUGIN_STATE_DIR DOCKER_CONFIG BUILDKIT_PLUGIN_DOCKER_CONFIG BUILDKIT_PLUGIN_DOCKER_CONFIG_BEFORE BUILDKIT_PLUGIN_NODE PATH; do
    export "$name=$(after_env "$name")"
  done
}

@test "an ECR job gets its own Docker config, and pre-exit gives later hooks back the DOCKER_CONFIG they had" {
  stack=$BATS_TEST_TMPDIR/stack-docker-config
  mkdir -p "$stack"
  echo '{"credHelpers":{"123456789012.dkr.ecr.us-east-1.amazonaws.com":"ecr-login"}}' >"$stack/config.json"
  export DOCKER_CONFIG=$stack
  ecr_job
  assert_equal "$DOCKER_CONFIG" "$BUILDKIT_PLUGIN_STATE_DIR/docker-config"
  assert_equal "$BUILDKIT_PLUGIN_DOCKER_CONFIG_BEFORE" "$stack"
  assert_equal "$(node -p "require('$DOCKER_CONFIG/config.json').credHelpers['123456789012.dkr.ecr.us-east-1.amazonaws.com']")" buildkit
  assert_equal "$(type -P docker-credential-buildkit)" "$PLUGIN_DIR/bin/docker-credential-buildkit"
  run agent_hook pre-exit
  assert_success
  assert_equal "$(after_env DOCKER_CONFIG)" "$stack"
  assert [ ! -e "$BUILDKIT_PLUGIN_STATE_DIR" ]
  assert_equal "$(cat "$stack/config.json")" '{"credHelpers":{"123456789012.dkr.ecr.us-east-1.amazonaws.com":"ecr-login"}}'
}

@test "pre-exit unsets DOCKER_CONFIG when the job had none before" {
  unset DOCKER_CONFIG
  export HOME=$BATS_TEST_TMPDIR/home
  ecr_job
  assert_equal "$BUILDKIT_PLUGIN_DOCKER_CONFIG_BEFORE" ""
  agent_hook pre-exit
  assert_equal "$(after_env BUILDKITE_HOOK_EXIT_STATUS)" 0
  run grep -c '^DOCKER_CONFIG=' "$BATS_TEST_TMPDIR/after.env"
  assert_output 0
}
