#!/usr/bin/env bats
# scripts/provide-busybox.sh, the step of the main job (scripts/demo.sh) that puts a static
# busybox into examples/hello: a failed or interrupted run leaves nothing behind, and the
# next run succeeds. `docker` is a stand-in that accepts only the one command the script
# may run (the busybox:musl image cannot be pulled on the test machines).
# shellcheck disable=SC2016

bats_require_minimum_version 1.5.0

setup() {
  load ../hooks/helpers/agent
  load_libs
  SCRIPT=$PLUGIN_DIR/scripts/provide-busybox.sh
  DEST_DIR=$BATS_TEST_TMPDIR/example
  DEST=$DEST_DIR/busybox
  mkdir -p "$DEST_DIR" "$BATS_TEST_TMPDIR/bin"
  cat >"$BATS_TEST_TMPDIR/bin/docker" <<'STANDIN'
#!/bin/bash
expected="run --rm --entrypoint cat busybox:musl /bin/busybox"
if [ "$*" != "$expected" ]; then
  echo "docker stand-in: unexpected argv: $*" >&2
  exit 99
fi
echo called >>"$STANDIN_CALLS"
case "${STANDIN_MODE:-}" in
  static) cat /bin/busybox ;;
  dynamic) cat /bin/ls ;;
  fail) printf 'partial'; echo "docker: Cannot connect to the Docker daemon" >&2; exit 125 ;;
  hang) printf 'partial'; echo started >"$STANDIN_STARTED"; exec sleep 30 ;;
  *) echo "docker stand-in: STANDIN_MODE not set" >&2; exit 98 ;;
esac
STANDIN
  chmod +x "$BATS_TEST_TMPDIR/bin/docker"
  export PATH=$BATS_TEST_TMPDIR/bin:$PATH
  export STANDIN_CALLS=$BATS_TEST_TMPDIR/calls STANDIN_STARTED=$BATS_TEST_TMPDIR/started
  # A machine without busybox-static, unless a test says otherwise.
  export BUSYBOX_STATIC=$BATS_TEST_TMPDIR/no-busybox
}

leaves_only() {
  run ls -A "$DEST_DIR"
  assert_output "$1"
}

@test "Debian's static busybox is copied, executable, and the engine is not asked" {
  [ -x /bin/busybox ] || skip "no /bin/busybox (Debian's busybox-static)"
  export BUSYBOX_STATIC=/bin/busybox
  run "$SCRIPT" "$DEST"
  assert_success
  assert [ -x "$DEST" ]
  cmp /bin/busybox "$DEST"
  assert [ ! -e "$STANDIN_CALLS" ]
  leaves_only busybox
}

@test "without busybox-static, the one in the busybox:musl image is used" {
  export STANDIN_MODE=static
  run "$SCRIPT" "$DEST"
  assert_success
  assert [ -x "$DEST" ]
  run "$DEST" echo from-busybox
  assert_output from-busybox
}

@test "a dynamic busybox is refused (it cannot run in a FROM scratch image) and not kept" {
  export BUSYBOX_STATIC=/bin/ls STANDIN_MODE=dynamic
  run "$SCRIPT" "$DEST"
  assert_failure 1
  assert_output --partial "not a static executable"
  leaves_only ""
}

@test "a failed docker run leaves no file behind, so the next run tries again and succeeds" {
  export STANDIN_MODE=fail
  run "$SCRIPT" "$DEST"
  assert_failure 125
  assert_output --partial "Cannot connect to the Docker daemon"
  leaves_only ""
  export STANDIN_MODE=static
  run "$SCRIPT" "$DEST"
  assert_success
  assert [ -x "$DEST" ]
  leaves_only busybox
}

@test "interrupted during the docker run (Ctrl-C): nothing left behind" {
  export STANDIN_MODE=hang
  # Job control: the script gets a process group of its own and the default SIGINT
  # handling, as in a terminal, where Ctrl-C reaches the whole foreground group.
  set -m
  "$SCRIPT" "$DEST" &
  pid=$!
  set +m
  for _ in $(seq 100); do [ -e "$STANDIN_STARTED" ] && break; sleep 0.05; done
  assert [ -e "$STANDIN_STARTED" ]
  kill -INT -- "-$pid"
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 130
  leaves_only ""
}

@test "cancelled during the docker run (SIGTERM to the script): nothing left behind" {
  export STANDIN_MODE=hang
  "$SCRIPT" "$DEST" &
  pid=$!
  for _ in $(seq 100); do [ -e "$STANDIN_STARTED" ] && break; sleep 0.05; done
  assert [ -e "$STANDIN_STARTED" ]
  kill -TERM "$pid"
  pkill -TERM -P "$pid" || true
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 143
  leaves_only ""
}

@test "an empty, non-executable busybox left by an older run is replaced" {
  : >"$DEST"
  export STANDIN_MODE=static
  run "$SCRIPT" "$DEST"
  assert_success
  assert [ -x "$DEST" ]
  run "$DEST" true
  assert_success
}

@test "a static busybox already in place is kept as it is" {
  cp /bin/busybox "$DEST" 2>/dev/null || { export STANDIN_MODE=static; "$SCRIPT" "$DEST"; rm -f "$STANDIN_CALLS"; }
  before=$(stat -c %Y.%i "$DEST")
  unset STANDIN_MODE
  run "$SCRIPT" "$DEST"
  assert_success
  assert_equal "$(stat -c %Y.%i "$DEST")" "$before"
  assert [ ! -e "$STANDIN_CALLS" ]
}
