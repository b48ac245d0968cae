#!/bin/bash
# Runs dist/<hook>.js with a usable Node and brings its exports into the sourcing shell.
# A Node process cannot export into its parent, so it writes `export K='v'` lines to a
# private file that is sourced here. Every fork costs start-up time: builtins where possible.

buildkit_plugin_hook() {
  local hook=$1 plugin_dir node exports status
  # agent-stack-k8s runs plugin hooks in containers with no command phase too (its checkout
  # container, whose image has no Node.js): there is nothing for this plugin to do there.
  if [[ -n ${BUILDKITE_BOOTSTRAP_PHASES:-} && ,$BUILDKITE_BOOTSTRAP_PHASES, != *,command,* ]]; then
    [[ -z ${BUILDKIT_PLUGIN_DEBUG:-} ]] || echo "buildkit: skipping the $hook hook: this container runs the $BUILDKITE_BOOTSTRAP_PHASES phases, not command" >&2
    return 0
  fi
  plugin_dir=${BASH_SOURCE[0]%/*}/../..
  [[ $plugin_dir == /* ]] || plugin_dir=$PWD/$plugin_dir
  # shellcheck source=node.bash
  . "$plugin_dir/hooks/lib/node.bash"
  node=$(buildkit_find_node "$plugin_dir" "$hook") || return 1
  exports=$(mktemp "${TMPDIR:-/tmp}/buildkit-plugin-exports.XXXXXX") || return 1
  # On cancellation the agent signals the hook (SIGTERM, or its cancel-signal). Node passes
  # the signal on to the build and exits once the build has stopped; this shell waits for
  # that, so the agent never runs pre-exit under a running build. Node runs in the
  # background so that `wait` returns when a signal arrives and the trap can pass it on
  # (the agent may signal this shell alone, or its whole process group).
  local node_pid previous_traps
  previous_traps=$(trap -p TERM INT)
  trap 'kill -TERM "$node_pid" 2>/dev/null' TERM INT
  # (`<&0` keeps the job's stdin, which a background command would otherwise lose;
  # `|| status=$?` keeps going in a sourcing shell that has set -e.)
  BUILDKIT_PLUGIN_EXPORTS_FILE="$exports" "$node" "$plugin_dir/dist/$hook.js" <&0 &
  node_pid=$!
  while :; do
    status=0
    wait "$node_pid" || status=$?
    kill -0 "$node_pid" 2>/dev/null || break
  done
  trap - TERM INT
  eval "$previous_traps"
  # shellcheck disable=SC1090
  . "$exports"
  rm -f "$exports"
  return "$status"
}

# buildkit_plugin_restore_docker_config STATUS: the job's Docker config went with the state
# dir, so later hooks (the Elastic CI Stack's pre-exit removes the config it made) get back
# the DOCKER_CONFIG they knew. Returns STATUS.
buildkit_plugin_restore_docker_config() {
  if [[ -n ${BUILDKIT_PLUGIN_DOCKER_CONFIG:-} && ${DOCKER_CONFIG:-} == "$BUILDKIT_PLUGIN_DOCKER_CONFIG" ]]; then
    if [[ -n ${BUILDKIT_PLUGIN_DOCKER_CONFIG_BEFORE:-} ]]; then
      export DOCKER_CONFIG=$BUILDKIT_PLUGIN_DOCKER_CONFIG_BEFORE
    else
      unset DOCKER_CONFIG
    fi
  fi
  return "$1"
}
