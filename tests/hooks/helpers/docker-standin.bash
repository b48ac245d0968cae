#!/bin/bash
# Helpers for tests/hooks/docker-container.bats and kubernetes-driver.bats: the strict `docker` stand-in
# (helpers/docker-standin, a Node script) first on a PATH that has no buildkite-agent, and
# jobs run as the agent runs them: environment, command (only if environment succeeded)
# and pre-exit (always), each sourced through agent_hook's wrapper (helpers/agent.bash).
# The JOB_STATUS_* variables and `output` are set for the tests to read, and the Node
# scripts are single-quoted on purpose.
# shellcheck disable=SC2034,SC2016

# The Node on this machine, before any test narrows PATH.
STANDIN_NODE=${STANDIN_NODE:-$(type -P node)}

# standin_setup: the job's PATH (JOB_PATH) holds the stand-in as `docker` and the few tools
# the shims and the wrapper use, so no buildkite-agent (or real docker) is ever found.
standin_setup() {
  local bin=$BATS_TEST_TMPDIR/bin tools=$BATS_TEST_TMPDIR/tools tool path
  mkdir -p "$bin" "$tools"
  ln -s "$PLUGIN_DIR/tests/hooks/helpers/docker-standin" "$bin/docker"
  for tool in bash env cat rm mktemp node; do
    path=$(type -P "$tool") || { echo "standin_setup: no $tool on PATH" >&2; return 1; }
    ln -s "$path" "$tools/$tool"
  done
  JOB_PATH=$bin:$tools
  export STANDIN_DOCKER_LOG=$BATS_TEST_TMPDIR/docker-calls.jsonl
  export STANDIN_DOCKER_STATE=$BATS_TEST_TMPDIR/docker-builders.json
  : >"$STANDIN_DOCKER_LOG"
  if PATH=$JOB_PATH type -P buildkite-agent >/dev/null; then
    echo "standin_setup: buildkite-agent is on the job's PATH" >&2
    return 1
  fi
}

# standin_job_setup: a clean job environment for each test: no state dir, job id, builder
# or stand-in knob carried over, TMPDIR in the test's own dir, and that dir as the checkout.
standin_job_setup() {
  export TMPDIR=$BATS_TEST_TMPDIR
  export BUILDKITE_PLUGIN_NAME=BUILDKIT
  export BUILDKITE_COMMAND=
  unset BUILDKIT_PLUGIN_STATE_DIR BUILDKITE_JOB_ID BUILDX_BUILDER
  unset STANDIN_DOCKER_STORE STANDIN_FAIL_CREATE STANDIN_FAIL_BUILD STANDIN_RACE_INSPECT STANDIN_K8S STANDIN_SLOW_BUILD
  cd "$BATS_TEST_TMPDIR" || return
}

# builder_test_setup JOB_PREFIX: a test whose jobs make per-job builders: the stand-in, a
# clean job, JOB (the prefix and the test number) and NAME, the builder that job makes.
builder_test_setup() {
  standin_setup
  standin_job_setup
  JOB=$1$(printf %02d "$BATS_TEST_NUMBER")
  NAME=buildkite-$JOB
}

# job_state_dir JOB_ID: where the plugin keeps the job's state.
job_state_dir() {
  printf '%s\n' "$TMPDIR/buildkite-plugin-buildkit-$(id -u)/$1"
}

# job_run JOB_ID: one job. Sets JOB_STATUS_{ENVIRONMENT,COMMAND,PRE_EXIT} (COMMAND is
# "skipped" when environment failed) and `output` (all three hooks' stdout and stderr).
# BUILDKITE_PLUGIN_CONFIGURATION and BUILDKITE_COMMAND come from the caller's environment.
job_run() {
  local job=$1 log state=''
  log=$BATS_TEST_TMPDIR/job-$job.log
  : >"$log"
  JOB_STATUS_ENVIRONMENT=0
  JOB_STATUS_COMMAND=skipped
  JOB_STATUS_PRE_EXIT=0
  echo "~~~ job $job: environment" >>"$log"
  BUILDKITE_JOB_ID=$job PATH=$JOB_PATH agent_hook environment >>"$log" 2>&1 || JOB_STATUS_ENVIRONMENT=$?
  if [ "$JOB_STATUS_ENVIRONMENT" -eq 0 ]; then
    # What the agent carries over from the environment hook to the later ones.
    state=$(after_env BUILDKIT_PLUGIN_STATE_DIR) || state=''
    echo "~~~ job $job: command" >>"$log"
    JOB_STATUS_COMMAND=0
    BUILDKITE_JOB_ID=$job BUILDKIT_PLUGIN_STATE_DIR=$state PATH=$JOB_PATH agent_hook command >>"$log" 2>&1 || JOB_STATUS_COMMAND=$?
  fi
  echo "~~~ job $job: pre-exit" >>"$log"
  BUILDKITE_JOB_ID=$job BUILDKIT_PLUGIN_STATE_DIR=$state PATH=$JOB_PATH agent_hook pre-exit >>"$log" 2>&1 || JOB_STATUS_PRE_EXIT=$?
  output=$(<"$log")
}

# standin_node SCRIPT [ARGS]: runs a small Node script over the stand-in's files.
standin_node() {
  "$STANDIN_NODE" -e "$1" "$STANDIN_DOCKER_LOG" "$STANDIN_DOCKER_STATE" "${@:2}"
}

# The calls as `docker ...` lines, each argument shell-quoted only when it needs it.
STANDIN_QUOTE='const Q = String.fromCharCode(39);
const q = (a) => (/^[A-Za-z0-9_.\/:=@%+,-]+$/.test(a) ? a : Q + a.split(Q).join(Q + "\\" + Q + Q) + Q);
const calls = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));'

# standin_calls: every call, one line each.
standin_calls() {
  standin_node "$STANDIN_QUOTE"'
for (const c of calls) console.log(c.argv.map(q).join(" "));'
}

# standin_builder_calls: the calls that touch builders and builds (not info or version,
# which the plugin makes side by side, in either order).
standin_builder_calls() {
  standin_node "$STANDIN_QUOTE"'
for (const c of calls) if (c.argv[1] === "buildx" && c.argv[2] !== "version") console.log(c.argv.map(q).join(" "));'
}

# standin_builder_exits: the same calls as standin_builder_calls, each as "EXIT docker ...".
standin_builder_exits() {
  standin_node "$STANDIN_QUOTE"'
for (const c of calls) if (c.argv[1] === "buildx" && c.argv[2] !== "version") console.log(`${c.exit} ${c.argv.map(q).join(" ")}`);'
}

# standin_rejected_calls: calls buildx would not even parse, or the stand-in does not
# emulate; the plugin must make none.
standin_rejected_calls() {
  standin_node "$STANDIN_QUOTE"'
for (const c of calls) if (["usage", "unsupported", "crash"].includes(c.error)) console.log(`${c.error}: ${c.argv.map(q).join(" ")}`);'
}

# standin_created NAME: the builder as the stand-in parsed it from the last successful
# `buildx create --name NAME` (JSON: driverOpts, flags, ...).
standin_created() {
  standin_node "$STANDIN_QUOTE"'
const made = calls.filter((c) => c.created && c.created.name === process.argv[3]).pop();
if (made) console.log(JSON.stringify(made.created));' "$1"
}

# standin_builders: the names of the builders that exist now, sorted.
standin_builders() {
  standin_node '
const fs = require("fs");
const state = fs.existsSync(process.argv[2]) ? JSON.parse(fs.readFileSync(process.argv[2], "utf8")) : {};
for (const b of Object.values(state).map((b) => b.name).sort()) console.log(b);'
}

# assert_job_left_nothing: no builder exists any more and the job's state dir is gone.
assert_job_left_nothing() {
  run standin_builders
  assert_output ""
  assert [ ! -e "$(job_state_dir "$JOB")" ]
}

# standin_add_builder NAME: a builder that exists before the job (left by a crashed job).
standin_add_builder() {
  standin_node '
const fs = require("fs");
const [file, name] = process.argv.slice(2);
const state = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
state[name.toLowerCase()] = { name, driver: "docker-container", driverOpts: {}, flags: [], platforms: [], use: false, by: "a crashed job" };
fs.writeFileSync(file, JSON.stringify(state));' "$1"
}

# standin_clear_log: forget the calls so far (between two jobs).
standin_clear_log() {
  : >"$STANDIN_DOCKER_LOG"
}
