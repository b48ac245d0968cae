#!/usr/bin/env bats
# scripts/release.sh on a copy of the release files in a scratch git repository: a release
# sets the version everywhere, commits, tags vX.Y.Z and moves vX; a dirty tree, a bad or
# older version and failing tests change nothing. The tests it runs are stood in for by
# RELEASE_TEST_COMMAND (the real suite is what runs this file).

bats_require_minimum_version 1.5.0

setup() {
  load ../hooks/helpers/agent
  load_libs
  REPO=$BATS_TEST_TMPDIR/repo
  mkdir -p "$REPO/scripts"
  cp "$PLUGIN_DIR/scripts/release.sh" "$REPO/scripts/"
  cp "$PLUGIN_DIR/package.json" "$PLUGIN_DIR/package-lock.json" "$PLUGIN_DIR/CHANGELOG.md" "$REPO/"
  printf 'Pin it:\n\n    - buildkit#v1.0.0:\n\nor follow v1:\n\n    - buildkit#v1:\n' >"$REPO/README.md"
  git -C "$REPO" init -q -b main
  git -C "$REPO" -c user.name=t -c user.email=t@example.com add -A
  git -C "$REPO" -c user.name=t -c user.email=t@example.com commit -q -m initial
  export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
  export RELEASE_TEST_COMMAND=true
}

@test "a release sets the version, commits, tags vX.Y.Z and moves vX" {
  run bash "$REPO/scripts/release.sh" 1.2.0
  assert_success
  assert_output --partial "release: v1.2.0 (and v1)"
  [ "$(git -C "$REPO" rev-parse "v1.2.0^{commit}")" = "$(git -C "$REPO" rev-parse HEAD)" ]
  [ "$(git -C "$REPO" rev-parse "v1^{commit}")" = "$(git -C "$REPO" rev-parse HEAD)" ]
  grep -q 'buildkit#v1.2.0:' "$REPO/README.md"
  grep -q 'buildkit#v1:' "$REPO/README.md"
  grep -q '"version": "1.2.0"' "$REPO/package.json"
  grep -q '^## 1.2.0 - ' "$REPO/CHANGELOG.md"
  grep -q '^## Unreleased$' "$REPO/CHANGELOG.md"
  [ -z "$(git -C "$REPO" status --porcelain)" ]

  run bash "$REPO/scripts/release.sh" 1.3.0
  assert_success
  [ "$(git -C "$REPO" rev-parse "v1^{commit}")" = "$(git -C "$REPO" rev-parse "v1.3.0^{commit}")" ]
}

@test "refused, changing nothing: a bad version, an older one, a dirty tree, failing tests" {
  before=$(git -C "$REPO" rev-parse HEAD)
  run bash "$REPO/scripts/release.sh" 1.2
  assert_failure
  assert_output --partial "usage: scripts/release.sh X.Y.Z"

  git -C "$REPO" tag v2.0.0
  run bash "$REPO/scripts/release.sh" 1.9.0
  assert_failure
  assert_output --partial "v1.9.0 is not newer than v2.0.0"

  echo change >>"$REPO/README.md"
  run bash "$REPO/scripts/release.sh" 2.1.0
  assert_failure
  assert_output --partial "the tree has changes"
  git -C "$REPO" checkout -q README.md

  RELEASE_TEST_COMMAND=false run bash "$REPO/scripts/release.sh" 2.1.0
  assert_failure
  assert_output --partial "the tests failed; nothing was changed"
  [ "$(git -C "$REPO" rev-parse HEAD)" = "$before" ]
  [ -z "$(git -C "$REPO" status --porcelain)" ]
  run git -C "$REPO" rev-parse -q --verify refs/tags/v2.1.0
  assert_failure
}
