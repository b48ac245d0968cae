#!/bin/bash
# Runs a hook as the Buildkite agent does: a wrapper script *sources* it, records its exit
# status, then dumps the environment so the test can see what later hooks would get.

load_libs() {
  local root
  root=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  load "$root/node_modules/bats-support/load.bash"
  load "$root/node_modules/bats-assert/load.bash"
  PLUGIN_DIR=$root
}

# agent_hook HOOK: runs $PLUGIN_DIR/hooks/HOOK; the env afterwards lands in after.env.
agent_hook() {
  local hook=$PLUGIN_DIR/hooks/$1 wrapper
  AFTER_ENV=$BATS_TEST_TMPDIR/after.env
  wrapper=$BATS_TEST_TMPDIR/wrapper-$1
  cat >"$wrapper" <<WRAPPER
#!/bin/bash
. "$hook"
export BUILDKITE_HOOK_EXIT_STATUS=\$?
export BUILDKIT_TEST_SHELL_FLAGS=\$-
env > "$AFTER_ENV"
exit \$BUILDKITE_HOOK_EXIT_STATUS
WRAPPER
  : >"$AFTER_ENV"
  bash "$wrapper"
}

# after_env NAME: the value NAME had after the last agent_hook.
after_env() {
  grep "^$1=" "$BATS_TEST_TMPDIR/after.env" | head -n1 | cut -d= -f2-
}
