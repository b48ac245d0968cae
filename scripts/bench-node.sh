#!/usr/bin/env bash
# What the hook shims cost before the plugin's own code runs, in milliseconds (median of N
# runs): with node >= 20 on PATH, on the first job of a host without Node.js (download from
# a release server on 127.0.0.1, verify, unpack), and on later jobs (cached).
#
#   scripts/bench-node.sh [N]        N defaults to 7; BENCH_FORMAT=gz|xz (default gz, what
#                                    the shims download when the pin lists both)
#
# Same set-up as tests/hooks/node-runtime.bats: the release tarball is built from this
# machine's node in the nodejs.org layout and pinned in a copy of the plugin; no Node on PATH.
# Overhead = the hook run the way the agent runs it, minus `node dist/environment.js` alone.
# The first-run figure has no real network in it: add the download from nodejs.org (about
# 57 MB for Node.js 22's .tar.gz, 30 MB for its .tar.xz) on a real agent.
set -euo pipefail

runs=${1:-7}
format=${BENCH_FORMAT:-gz}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tests/hooks/helpers/node-runtime.bash
. "$here/../tests/hooks/helpers/node-runtime.bash"

work=$(mktemp -d)
cleanup() {
  nr_server_stop
  rm -rf "$work"
}
trap cleanup EXIT

version=$("$NR_HOST_NODE" --version)
archive=$(nr_build_release "$work/dist" "$version" "$format")
export NR_HOME=$work/home NR_TMP=$work/tmp NR_PLUGIN=$work/plugin NR_WRAPPER=$work/agent-wrapper
export NR_ENV_DUMP=$work/env.out
mkdir -p "$NR_HOME" "$NR_TMP" "$work/stubs"
nr_sysbin "$work/sysbin"
nr_plugin "$NR_PLUGIN" "$version" "${archive##*/}" "$(nr_sha256 "$archive")"
nr_wrapper "$NR_WRAPPER"
nr_server_start "$work/dist" "$work/requests.log"
cache=$NR_HOME/.cache/buildkite-plugin-buildkit/node

now_us() { local t=${EPOCHREALTIME//[!0-9]/}; printf '%s\n' "$t"; }

# time_ms CMD...: wall time of CMD in ms (fails the benchmark if CMD fails).
time_ms() {
  local start end
  start=$(now_us)
  "$@" >/dev/null 2>&1 || { echo "bench-node: failed: $*" >&2; "$@" >&2; exit 1; }
  end=$(now_us)
  echo $(((end - start) / 1000))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# In the same clean environment as the hooks (NODE_EXTRA_CA_CERTS and the like slow node down).
bare() {
  /usr/bin/env -i HOME="$NR_HOME" PATH="$work/sysbin" LANG=C BUILDKIT_PLUGIN_EXPORTS_FILE=/dev/null \
    "$NR_HOST_NODE" "$NR_PLUGIN/dist/environment.js"
}
hook_path() { NR_PATH=$work/stubs:$work/sysbin nr_hook environment; }
hook_nopath() { NR_PATH=$work/sysbin nr_hook environment; }
first_run() { rm -rf "$cache"; hook_nopath; }

declare -A samples=()
ln -sf "$NR_HOST_NODE" "$work/stubs/node"
for _ in $(seq "$runs"); do
  samples[bare]+="$(time_ms bare) "
  samples[path]+="$(time_ms hook_path) "
  samples[first]+="$(time_ms first_run) "
  samples[cached]+="$(time_ms hook_nopath) "
done

med() { tr ' ' '\n' <<<"${samples[$1]}" | grep . | median; }
bare_ms=$(med bare)
requests=$(grep -c "^GET /$version/" "$work/requests.log" || true)
printf 'Node.js shim overhead, median of %d runs (%s, %s, %s MB .tar.%s)\n' \
  "$runs" "$(uname -m)" "$version" "$(($(stat -c %s "$archive") / 1000000))" "$format"
printf '  %-50s %6s ms\n' "node dist/environment.js alone" "$bare_ms"
for k in path first cached; do
  case $k in
    path) label="node >= 20 on PATH" ;;
    first) label="first job on the host (download, verify, unpack)" ;;
    cached) label="later jobs (cached)" ;;
  esac
  total=$(med "$k")
  printf '  %-50s %6s ms total, %6s ms overhead\n' "$label" "$total" "$((total - bare_ms))"
done
printf '  (tarball requests to the server: %s, one per first-job run)\n' "$requests"
