#!/bin/bash
# Runs dist/<hook>.js with a usable Node and brings its exports into the sourcing shell.
# A Node process cannot export into its parent, so it writes `export K='v'` lines to a
# private file that is sourced here. Every fork costs start-up time: builtins where possible.

buildkit_plugin_hook() {
  local hook=$1 plugin_dir node exports status previous_term_trap
  plugin_dir=${BASH_SOURCE[0]%/*}/../..
  [[ $plugin_dir == /* ]] || plugin_dir=$PWD/$plugin_dir
  # shellcheck source=node.bash
  . "$plugin_dir/hooks/lib/node.bash"
  node=$(buildkit_find_node "$plugin_dir" "$hook") || return 1
  exports=$(mktemp "${TMPDIR:-/tmp}/buildkit-plugin-exports.XXXXXX") || return 1
  # On cancellation the agent sends SIGTERM to the whole process group. Node passes it on to
  # the build and exits once the build has stopped; without a trap this shell would die at
  # once and the agent would run pre-exit while the build still runs. A trap (unlike an
  # ignored signal) is not inherited, so Node and the build still receive SIGTERM.
  previous_term_trap=$(trap -p TERM)
  trap ':' TERM
  # `|| status=$?` keeps going (exports, trap) even in a shell that has set -e.
  status=0
  BUILDKIT_PLUGIN_EXPORTS_FILE="$exports" "$node" "$plugin_dir/dist/$hook.js" || status=$?
  if [ -n "$previous_term_trap" ]; then eval "$previous_term_trap"; else trap - TERM; fi
  # shellcheck disable=SC1090
  . "$exports"
  rm -f "$exports"
  return "$status"
}
