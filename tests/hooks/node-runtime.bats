#!/usr/bin/env bats
# The hook shims on an agent without Node.js (a stock Elastic CI Stack AMI): they provision
# the pinned release from a real HTTP server on 127.0.0.1, verify it against the checksum kept
# in the plugin, cache it per host, and refuse what they must. Real bash, tar, curl, flock and
# sha256sum; the release tarball is built from this machine's node, and its checksum reaches
# the shims through the plugin copy's hooks/lib/node-release.* files (the test seam).

load "../../node_modules/bats-support/load"
load "../../node_modules/bats-assert/load"
load "helpers/node-runtime"

bats_require_minimum_version 1.5.0

setup_file() {
  export NR_VERSION NR_ARCH NR_FILES NR_GZ NR_XZ NR_TAMPERED_ROOT NR_CANARY NR_SYSBIN
  NR_VERSION=$("$NR_HOST_NODE" --version)
  NR_ARCH=$(nr_arch)
  NR_FILES=$BATS_FILE_TMPDIR/dist
  NR_GZ=$(nr_build_release "$NR_FILES" "$NR_VERSION" gz)
  NR_XZ=
  if type -P xz >/dev/null; then NR_XZ=$(nr_build_release "$NR_FILES" "$NR_VERSION" xz); fi
  NR_TAMPERED_ROOT=$BATS_FILE_TMPDIR/tampered
  NR_CANARY=$BATS_FILE_TMPDIR/tampered-node-ran
  nr_build_tampered "$NR_TAMPERED_ROOT" "$NR_VERSION" "$NR_CANARY"
  NR_SYSBIN=$BATS_FILE_TMPDIR/sysbin
  nr_sysbin "$NR_SYSBIN"
}

setup() {
  export NR_HOME=$BATS_TEST_TMPDIR/home NR_TMP=$BATS_TEST_TMPDIR/tmp
  export NR_STUBS=$BATS_TEST_TMPDIR/stubs NR_PLUGIN=$BATS_TEST_TMPDIR/plugin
  export NR_WRAPPER=$BATS_TEST_TMPDIR/agent-wrapper NR_ENV_DUMP=$BATS_TEST_TMPDIR/env.out
  export NR_PATH=$NR_STUBS:$NR_SYSBIN
  export NR_LOG=$BATS_TEST_TMPDIR/requests.log
  export NR_CACHE=$NR_HOME/.cache/buildkite-plugin-buildkit/node
  export NR_TOP=node-$NR_VERSION-linux-$NR_ARCH
  mkdir -p "$NR_HOME" "$NR_TMP" "$NR_STUBS"
  rm -f "$NR_CANARY"
  nr_wrapper "$NR_WRAPPER"
  pin gz
}

teardown() {
  nr_server_stop
}

# pin gz|xz: the plugin copy pins the test release in that format.
pin() {
  local archive=$NR_GZ
  [ "$1" = xz ] && archive=$NR_XZ
  rm -rf "$NR_PLUGIN"
  nr_plugin "$NR_PLUGIN" "$NR_VERSION" "${archive##*/}" "$(nr_sha256 "$archive")"
}

tarball_requests() {
  grep -c "^GET /$NR_VERSION/$NR_TOP.tar" "$NR_LOG" || true
}

# The variable $1 as the hook left it in the agent's environment.
exported() {
  (
    # shellcheck disable=SC1090
    . "${2:-$NR_ENV_DUMP}"
    printf '%s\n' "${!1:-}"
  )
}

@test "with no node on PATH, the environment hook provisions the pinned Node.js and runs with it" {
  nr_server_start "$NR_FILES" "$NR_LOG"
  run ! env PATH="$NR_PATH" bash -c 'command -v node'

  run nr_hook environment
  assert_success
  assert_output --partial "--- :nodejs: Provisioning Node.js $NR_VERSION for the buildkit plugin"
  assert_output --partial "$NR_SERVER_URL/$NR_VERSION/$NR_TOP.tar.gz"
  assert_output --regexp "unpacked to .* in [0-9]+\.[0-9]s"
  assert_equal "$(exported PROVISIONED_NODE_OK)" 1
  assert_equal "$(exported PROVISIONED_NODE_ARGV0)" "$NR_CACHE/$NR_TOP/bin/node"
  assert_equal "$(exported PROVISIONED_NODE_VERSION)" "$NR_VERSION"
  assert_equal "$(exported BUILDKITE_HOOK_EXIT_STATUS)" 0
  assert_equal "$(tarball_requests)" 1
  assert_equal "$(cat "$NR_CACHE/$NR_TOP/.buildkit-sha256")" "$(nr_sha256 "$NR_GZ")"
  # Nothing half-done is left behind.
  run bash -c "ls -A '$NR_CACHE'"
  assert_output "$(printf '.lock\n%s' "$NR_TOP")"
}

@test "the second run uses the cached Node.js without touching the network" {
  nr_server_start "$NR_FILES" "$NR_LOG"
  run nr_hook environment
  assert_success
  assert_equal "$(tarball_requests)" 1

  nr_server_stop # no network at all for the next jobs
  : >"$NR_LOG"
  run nr_hook command
  assert_success
  refute_output --partial "Provisioning"
  assert_equal "$(exported PROVISIONED_NODE_ARGV0)" "$NR_CACHE/$NR_TOP/bin/node"
  run nr_hook pre-exit
  assert_success
  assert_equal "$(exported PROVISIONED_NODE_OK)" 1
  assert_equal "$(wc -l <"$NR_LOG")" 0
}

@test "a tarball whose bytes differ from the pinned checksum is refused, deleted and never run" {
  nr_server_start "$NR_TAMPERED_ROOT" "$NR_LOG"

  run nr_hook environment
  assert_failure
  assert_output --partial "$NR_TOP.tar.gz does not match the checksum pinned in hooks/lib/node-release.sha256"
  assert_output --partial "expected sha256 $(nr_sha256 "$NR_GZ")"
  assert_output --partial "got      sha256 $(nr_sha256 "$NR_TAMPERED_ROOT/$NR_VERSION/$NR_TOP.tar.gz")"
  assert_equal "$(tarball_requests)" 1
  [ ! -e "$NR_CANARY" ]
  assert_equal "$(exported BUILDKITE_HOOK_EXIT_STATUS)" 1
  assert_equal "$(exported PROVISIONED_NODE_OK)" ""
  run bash -c "ls -A '$NR_CACHE'"
  assert_output .lock

  # The next job tries again and is refused again; nothing bad was cached.
  run nr_hook environment
  assert_failure
  [ ! -e "$NR_CANARY" ]
  assert_equal "$(tarball_requests)" 2
}

@test "a partial download is deleted and reported" {
  nr_server_start "$NR_FILES" "$NR_LOG" 0 1

  run nr_hook environment
  assert_failure
  assert_output --partial "failed; the partial download was deleted"
  assert_equal "$(exported PROVISIONED_NODE_OK)" ""
  run bash -c "ls -A '$NR_CACHE'"
  assert_output .lock
}

@test "four concurrent shims on one host provision once and all succeed" {
  nr_server_start "$NR_FILES" "$NR_LOG" 1000
  local i pids=() status_all=0
  for i in 1 2 3 4; do
    nr_hook environment NR_ENV_DUMP="$BATS_TEST_TMPDIR/env.$i" >"$BATS_TEST_TMPDIR/out.$i" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2 3; do
    wait "${pids[$i]}" || status_all=1
  done
  cat "$BATS_TEST_TMPDIR"/out.* # shown when the test fails

  assert_equal "$status_all" 0
  assert_equal "$(tarball_requests)" 1
  assert_equal "$(cat "$BATS_TEST_TMPDIR"/out.* | grep -c -- '--- :nodejs: Provisioning')" 1
  assert_equal "$(cat "$BATS_TEST_TMPDIR"/out.* | grep -c 'that another job provisioned on this host')" 3
  for i in 1 2 3 4; do
    assert_equal "$(exported PROVISIONED_NODE_OK "$BATS_TEST_TMPDIR/env.$i")" 1
    assert_equal "$(exported PROVISIONED_NODE_ARGV0 "$BATS_TEST_TMPDIR/env.$i")" "$NR_CACHE/$NR_TOP/bin/node"
  done
  run bash -c "ls -A '$NR_CACHE'"
  assert_output "$(printf '.lock\n%s' "$NR_TOP")"
}

@test "node-download: false with no usable Node gives the documented error" {
  nr_server_start "$NR_FILES" "$NR_LOG"

  run nr_hook environment BUILDKITE_PLUGIN_BUILDKIT_NODE_DOWNLOAD=false
  assert_failure
  assert_output --partial "there is no node on PATH, and Node.js $NR_VERSION has not been provisioned on this host"
  assert_output --partial "node-download is false, so the plugin will not download it."
  assert_output --partial "install Node.js >= 20 on the agent"
  assert_output --partial "put that node on the PATH of the agent's jobs"
  assert_output --partial "node-download: true (the default)"
  assert_equal "$(exported BUILDKITE_HOOK_EXIT_STATUS)" 1
  assert_equal "$(exported PROVISIONED_NODE_OK)" ""
  assert_equal "$(wc -l <"$NR_LOG")" 0

  # The option's prefix follows BUILDKITE_PLUGIN_NAME, as the agent sets it.
  run nr_hook environment BUILDKITE_PLUGIN_NAME=MY_BUILDKIT BUILDKITE_PLUGIN_MY_BUILDKIT_NODE_DOWNLOAD=false
  assert_failure
  assert_output --partial "node-download is false"
  assert_equal "$(wc -l <"$NR_LOG")" 0
}

@test "a Node.js older than 20 on PATH is named and not used" {
  printf '#!/bin/sh\necho v18.20.4\n' >"$NR_STUBS/node"
  chmod +x "$NR_STUBS/node"
  run nr_hook environment BUILDKITE_PLUGIN_BUILDKIT_NODE_DOWNLOAD=false
  assert_failure
  assert_output --partial "$NR_STUBS/node is Node.js v18.20.4"
}

@test "node >= 20 on PATH is used as it is: no download, no cache" {
  ln -s "$NR_HOST_NODE" "$NR_STUBS/node"
  nr_server_start "$NR_FILES" "$NR_LOG"
  run nr_hook environment
  assert_success
  assert_output ""
  assert_equal "$(exported PROVISIONED_NODE_ARGV0)" "$NR_STUBS/node"
  assert_equal "$(wc -l <"$NR_LOG")" 0
  [ ! -e "$NR_HOME/.cache" ]
}

@test "glibc older than 2.28 (Amazon Linux 2) gets a clear message, not a broken binary" {
  printf '#!/bin/sh\necho glibc 2.26\n' >"$NR_STUBS/getconf"
  chmod +x "$NR_STUBS/getconf"
  nr_server_start "$NR_FILES" "$NR_LOG"
  run nr_hook environment
  assert_failure
  assert_output --partial "this host has glibc 2.26: the official Node.js $NR_VERSION builds need glibc >= 2.28 (Amazon Linux 2"
  assert_output --partial "Amazon Linux 2023"
  assert_equal "$(wc -l <"$NR_LOG")" 0
}

@test "musl (Alpine, moby/buildkit images) gets a clear message pointing at the Kubernetes set-up" {
  printf '#!/bin/sh\nexit 1\n' >"$NR_STUBS/getconf"
  printf '#!/bin/sh\necho "musl libc (x86_64)" >&2\necho "Version 1.2.5" >&2\nexit 1\n' >"$NR_STUBS/ldd"
  chmod +x "$NR_STUBS/getconf" "$NR_STUBS/ldd"
  nr_server_start "$NR_FILES" "$NR_LOG"
  run nr_hook environment
  assert_failure
  assert_output --partial "this host uses musl libc (Alpine"
  assert_output --partial "docs/node-runtime.md, section Kubernetes (agent-stack-k8s)"
  assert_equal "$(wc -l <"$NR_LOG")" 0
}

@test "a host the official binaries do not cover gets a clear message" {
  printf '#!/bin/sh\necho Linux s390x\n' >"$NR_STUBS/uname"
  chmod +x "$NR_STUBS/uname"
  run nr_hook environment
  assert_failure
  assert_output --partial "only provision Node.js for Linux x64 and arm64 (this host: Linux s390x)"
}

@test "node-mirror can be a local directory (air-gapped hosts), and a .tar.xz-only pin works" {
  [ -n "$NR_XZ" ] || skip "xz is not installed"
  pin xz
  run nr_hook environment BUILDKITE_PLUGIN_BUILDKIT_NODE_MIRROR="$NR_FILES/"
  assert_success
  assert_output --partial "downloading $NR_FILES/$NR_VERSION/$NR_TOP.tar.xz"
  assert_equal "$(cat "$NR_CACHE/$NR_TOP/.buildkit-sha256")" "$(nr_sha256 "$NR_XZ")"
  assert_equal "$(exported PROVISIONED_NODE_ARGV0)" "$NR_CACHE/$NR_TOP/bin/node"
}

@test "pre-exit never downloads" {
  nr_server_start "$NR_FILES" "$NR_LOG"
  # shellcheck disable=SC2016
  run env -i PATH="$NR_PATH" HOME="$NR_HOME" BUILDKITE_PLUGIN_BUILDKIT_NODE_MIRROR="$NR_SERVER_URL" \
    /bin/bash -c '. "$1/hooks/lib/node.bash"; buildkit_find_node "$1" pre-exit' _ "$NR_PLUGIN"
  assert_failure
  assert_output --partial "pre-exit does not download it"
  assert_equal "$(wc -l <"$NR_LOG")" 0
}

@test "buildkit_find_node prints only the node path on stdout and leaves no variables, traps or fds" {
  nr_server_start "$NR_FILES" "$NR_LOG"
  # shellcheck disable=SC2016
  local script='
    . "$1/hooks/lib/node.bash"
    snap() {
      set -o posix
      set | grep -Ev "^(_|BASH_CMDS|BASH_LINENO|BASH_SOURCE|FUNCNAME|LINENO|RANDOM|SRANDOM|SECONDS|EPOCHREALTIME|EPOCHSECONDS|BASH_ARGC|BASH_ARGV|PIPESTATUS)="
      trap -p
      ls /proc/$$/fd
    }
    snap >"$2.before"
    buildkit_find_node "$1" >"$2" 2>/dev/null || echo "failed: $?"
    snap >"$2.after"
    diff "$2.before" "$2.after" && echo clean'
  run env -i PATH="$NR_PATH" HOME="$NR_HOME" BUILDKITE_PLUGIN_BUILDKIT_NODE_MIRROR="$NR_SERVER_URL" \
    /bin/bash -c "$script" _ "$NR_PLUGIN" "$BATS_TEST_TMPDIR/stdout"
  assert_success
  assert_output clean
  assert_equal "$(cat "$BATS_TEST_TMPDIR/stdout")" "$NR_CACHE/$NR_TOP/bin/node"
}

@test "a damaged cached copy is not used but replaced" {
  nr_server_start "$NR_FILES" "$NR_LOG"
  run nr_hook environment
  assert_success
  : >"$NR_CACHE/$NR_TOP/bin/node" # e.g. a disk that filled up under an older version

  run nr_hook environment
  assert_success
  assert_output --partial "Provisioning"
  assert_equal "$(tarball_requests)" 2
  assert_equal "$(exported PROVISIONED_NODE_VERSION)" "$NR_VERSION"

  # A copy unpacked from another archive than the pinned one is replaced too.
  printf '%064d\n' 0 >"$NR_CACHE/$NR_TOP/.buildkit-sha256"
  run nr_hook environment
  assert_success
  assert_output --partial "Provisioning"
  assert_equal "$(tarball_requests)" 3
  assert_equal "$(cat "$NR_CACHE/$NR_TOP/.buildkit-sha256")" "$(nr_sha256 "$NR_GZ")"
  run bash -c "ls -A '$NR_CACHE'"
  assert_output "$(printf '.lock\n%s' "$NR_TOP")"
}

@test "an unwritable home falls back to a private cache in TMPDIR" {
  nr_server_start "$NR_FILES" "$NR_LOG"
  run nr_hook environment HOME=/proc
  assert_success
  assert_equal "$(exported PROVISIONED_NODE_ARGV0)" "$NR_TMP/buildkite-plugin-buildkit-node-$(id -u)/$NR_TOP/bin/node"
  assert_equal "$(stat -c %a "$NR_TMP/buildkite-plugin-buildkit-node-$(id -u)")" 700

  nr_server_stop
  run nr_hook command HOME=/proc
  assert_success
  assert_equal "$(exported PROVISIONED_NODE_OK)" 1
}

@test "agent-stack-k8s checkout container (phases plugin,checkout): every hook does nothing, before looking for Node.js" {
  nr_server_start "$NR_FILES" "$NR_LOG"
  for hook in environment command pre-exit; do
    run nr_hook "$hook" BUILDKITE_BOOTSTRAP_PHASES=plugin,checkout
    assert_success
    assert_output ""
    assert_equal "$(exported PROVISIONED_NODE_OK)" ""
    assert_equal "$(exported BUILDKITE_HOOK_EXIT_STATUS)" 0
  done
  assert_equal "$(wc -l <"$NR_LOG")" 0
  assert [ ! -e "$NR_CACHE" ]
  run bash -c "ls -A '$NR_TMP'"
  assert_output ""
}

@test "with BUILDKIT_PLUGIN_DEBUG, the skip is one line on stderr" {
  run nr_hook environment BUILDKITE_BOOTSTRAP_PHASES=plugin,checkout BUILDKIT_PLUGIN_DEBUG=1
  assert_success
  assert_output "buildkit: skipping the environment hook: this container runs the plugin,checkout phases, not command"
}

@test "agent-stack-k8s command container (phases plugin,command): the hooks run as on any agent" {
  nr_server_start "$NR_FILES" "$NR_LOG"
  run nr_hook environment BUILDKITE_BOOTSTRAP_PHASES=plugin,command
  assert_success
  assert_equal "$(exported PROVISIONED_NODE_OK)" 1
  assert_equal "$(tarball_requests)" 1
  run nr_hook command BUILDKITE_BOOTSTRAP_PHASES=command
  assert_success
  assert_equal "$(exported PROVISIONED_NODE_OK)" 1
}
