#!/usr/bin/env bash
# Dev check for scripts/with-engine.sh: on each engine it provides, prints how `docker info`
# reports the image store, then builds a FROM-scratch busybox image with
# `docker buildx build --network none` and pushes it to the run's registry.
#
# Usage: scripts/engine-smoke.sh                        (main engine only)
#        WITH_CLASSIC_ENGINE=1 scripts/engine-smoke.sh  (and the classic overlay2 engine)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "${BUILDKIT_WITH_ENGINE:-}" != 1 ]; then
  exec "$here/with-engine.sh" "$here/engine-smoke.sh" "$@"
fi

busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "engine-smoke: need a static busybox at $busybox (busybox-static)" >&2; exit 1; }

ctx=$(mktemp -d "${TMPDIR:-/tmp}/engine-smoke.XXXXXX")
trap 'rm -rf -- "$ctx"' EXIT
cp "$busybox" "$ctx/busybox"
cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox","--install","-s","/bin"]
RUN echo hi
EOF

smoke() { # smoke NAME DOCKER_HOST
  local name=$1 ref="$BUILDKIT_TEST_REGISTRY/engine-smoke:$1" t0 t1
  export DOCKER_HOST=$2
  echo "== $name engine ($DOCKER_HOST, BUILDKIT_TEST_ENGINE=$BUILDKIT_TEST_ENGINE)"
  docker buildx version
  echo "Driver: $(docker info --format '{{.Driver}}')"
  echo "DriverStatus: $(docker info --format '{{json .DriverStatus}}')"
  t0=$(date +%s%N)
  docker buildx build --network none --progress quiet -t "$ref" --push "$ctx" >/dev/null
  t1=$(date +%s%N)
  echo "built and pushed $ref in $(((t1 - t0) / 1000000)) ms"
  curl -fsS --noproxy '*' -H 'Accept: application/vnd.oci.image.index.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -o /dev/null -w "registry has it: HTTP %{http_code} %{content_type}\n" \
    "http://$BUILDKIT_TEST_REGISTRY/v2/engine-smoke/manifests/$name"
}

smoke main "$DOCKER_HOST"
if [ -n "${BUILDKIT_TEST_CLASSIC_DOCKER_HOST:-}" ]; then
  smoke classic "$BUILDKIT_TEST_CLASSIC_DOCKER_HOST"
fi
echo "engine-smoke: ok"
