#!/usr/bin/env bash
# Usage: scripts/buildkit-image.sh
#
# Builds local/buildkit:v0.13.2 on the engine DOCKER_HOST names, unless it is there already,
# and prints its name: the image of a docker-container builder on machines that cannot pull
# moby/buildkit (builder.image). It holds the buildkitd and buildctl of
# scripts/provide-buildkit.sh, the host's runc with its libraries, and a static busybox.
# Exits 3 with one "SKIPPED: ..." line when there is no buildkitd to pack.
set -euo pipefail

here=$(CDPATH='' cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=local/buildkit:v0.13.2

if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi
bin=$(bash "$here/provide-buildkit.sh") || exit 3
runc=$(command -v runc || true)
[ -n "$runc" ] || { echo "SKIPPED: no runc to put in $image" >&2; exit 3; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/usr/bin" "$root/bin"
cp -L "$bin/buildkitd" "$bin/buildctl" "$runc" "$root/usr/bin/"
# runc is dynamic: its libraries and loader, at the paths it was linked against.
ldd "$runc" | grep -o '/[^ ]*' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
bash "$here/provide-busybox.sh" "$root/bin/busybox"
cat >"$work/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc/buildkit /var/lib/buildkit /tmp
ENV PATH=/usr/bin:/bin
ENTRYPOINT ["buildkitd"]
DOCKERFILE
docker build --quiet --network none -t "$image" "$work" >/dev/null
echo "$image"
