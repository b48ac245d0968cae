#!/bin/bash
# Runs dist/<hook>.js with a usable Node and brings its exports into the sourcing shell.
# A Node process cannot export into its parent, so it writes `export K='v'` lines to a
# private file that is sourced here. Every fork costs start-up time: builtins where possible.

buildkit_plugin_hook() {
  local hook=$1 plugin_dir node exports='' status
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
  # The error block of a missing Node.js is printed once per job: a later hook of the same
  # job (pre-exit) that finds none either says nothing more. No Node ran, so there is
  # nothing of the plugin's to clean up.
  if [[ -n ${BUILDKIT_PLUGIN_NO_NODE:-} ]]; then
    if ! node=$(buildkit_find_node "$plugin_dir" "$hook" 2>/dev/null); then
      [ "$hook" = pre-exit ] && return 0
      echo "buildkit plugin: no Node.js for the $hook hook either (see the environment hook's error)." >&2
      return 1
    fi
  elif ! node=$(buildkit_find_node "$plugin_dir" "$hook"); then
    export BUILDKIT_PLUGIN_NO_NODE=1
    return 1
  fi
  # On cancellation the agent signals the hook (SIGTERM, or its cancel-signal). Node passes
  # the signal on to the build and exits once the build has stopped; this shell waits for
  # that, so the agent never runs pre-exit under a running build. Node runs in the
  # background so that `wait` returns when a signal arrives and the trap can pass it on
  # (the agent may signal this shell alone, or its whole process group). The trap is set
  # before anything is created, and notes a signal that comes before Node has started: then
  # Node is not started at all.
  local node_pid='' previous_traps cancelled=''
  previous_traps=$(trap -p TERM INT)
  trap 'cancelled=${cancelled:-TERM}; [ -z "$node_pid" ] || kill -TERM "$node_pid" 2>/dev/null' TERM
  trap 'cancelled=${cancelled:-INT}; [ -z "$node_pid" ] || kill -INT "$node_pid" 2>/dev/null' INT
  if [ -z "$cancelled" ]; then
    if exports=$(mktemp "${TMPDIR:-/tmp}/buildkit-plugin-exports.XXXXXX"); then
      # (`<&0` keeps the job's stdin, which a background command would otherwise lose.)
      BUILDKIT_PLUGIN_EXPORTS_FILE="$exports" "$node" "$plugin_dir/dist/$hook.js" <&0 &
      node_pid=$!
      # A signal between the trap and `$!` found no pid to pass on to.
      [ -z "$cancelled" ] || kill "-$cancelled" "$node_pid" 2>/dev/null
      while :; do
        # (`|| status=$?` keeps going in a sourcing shell that has set -e.)
        status=0
        wait "$node_pid" || status=$?
        kill -0 "$node_pid" 2>/dev/null || break
      done
    else
      status=1
    fi
  fi
  if [[ -z $node_pid && -n $cancelled ]]; then
    # Cancelled before Node started: the same status and line as a cancel Node handles.
    echo "buildkit: error: the job was cancelled (SIG$cancelled)" >&2
    if [ "$cancelled" = INT ]; then status=130; else status=143; fi
  fi
  trap - TERM INT
  eval "$previous_traps"
  if [ -n "$exports" ]; then
    # shellcheck disable=SC1090
    . "$exports"
    rm -f "$exports"
  fi
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
