#!/usr/bin/env bash
# Releases the plugin: `scripts/release.sh 1.2.0`.
#   1. checks the version (X.Y.Z, newer than the latest vX.Y.Z tag), that the tree is clean,
#      and that the tests pass (RELEASE_TEST_COMMAND, default `bash scripts/test.sh`);
#   2. sets it in package.json (and its lock), in the README's pinned examples
#      (buildkit#vX.Y.Z) and in CHANGELOG.md (Unreleased becomes X.Y.Z);
#   3. commits, tags vX.Y.Z, and moves the major tag (v1) to it.
# Pushing is the releaser's: git push origin HEAD vX.Y.Z && git push --force origin vX
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "release: $*" >&2; exit 1; }

version=${1:-}
[[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || die "usage: scripts/release.sh X.Y.Z (got '${version}')"
major=${BASH_REMATCH[1]}
tag=v$version

[ -z "$(git status --porcelain)" ] || die "the tree has changes; commit or stash them first"
git rev-parse -q --verify "refs/tags/$tag" >/dev/null && die "$tag exists already"
latest=$(git tag --list 'v*.*.*' --sort=-v:refname | head -n1)
if [ -n "$latest" ]; then
  newest=$(printf '%s\n%s\n' "${latest#v}" "$version" | sort -V | tail -n1)
  [ "$newest" = "$version" ] || die "$tag is not newer than $latest"
fi
grep -q '^## Unreleased' CHANGELOG.md || die "CHANGELOG.md has no '## Unreleased' section to release"

echo "release: running the tests (${RELEASE_TEST_COMMAND:-bash scripts/test.sh})"
bash -c "${RELEASE_TEST_COMMAND:-bash scripts/test.sh}" || die "the tests failed; nothing was changed"

npm version --no-git-tag-version --allow-same-version "$version" >/dev/null
sed -i -E "s/(buildkit#)v[0-9]+\.[0-9]+\.[0-9]+/\1$tag/g" README.md
sed -i "s/^## Unreleased\$/## Unreleased\n\n## $version - $(date -u +%Y-%m-%d)/" CHANGELOG.md
git add package.json package-lock.json README.md CHANGELOG.md
git commit -q -m "Release $tag"
git tag -a "$tag" -m "Release $tag"
git tag -f -a "v$major" -m "Latest release of v$major: $tag" >/dev/null
echo "release: $tag (and v$major) at $(git rev-parse --short HEAD); push with: git push origin HEAD $tag && git push --force origin v$major"
