#!/bin/bash
# Helpers for tests/hooks/node-runtime.bats and scripts/bench-node.sh: a Node.js release
# tarball built from the Node on this machine, a release server on 127.0.0.1 that logs every
# request, a copy of the plugin whose pinned release is that tarball, and the way the
# Buildkite agent runs a hook (sourced through a wrapper that keeps the exit status and the
# environment).
#
# The test seam is the plugin copy: its hooks/lib/node-release.{version,sha256} are
# overwritten there. Production code reads no variable or option that could do the same.

# The Node on this machine (before any test takes node off PATH).
NR_HOST_NODE=${NR_HOST_NODE:-$(type -P node)}
NR_REPO=${NR_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}

# nr_arch: x64 or arm64, as in Node's file names.
nr_arch() {
  case $(uname -m) in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) uname -m ;;
  esac
}

# nr_build_release ROOT VERSION gz|xz: writes ROOT/VERSION/node-VERSION-linux-ARCH.tar.FORMAT
# in the layout of nodejs.org/dist (node-VERSION-linux-ARCH/bin/node), from this machine's
# node, and prints its path.
nr_build_release() {
  local root=$1 version=$2 format=$3 top stage out
  top=node-$version-linux-$(nr_arch)
  stage=$(mktemp -d)
  mkdir -p "$stage/$top/bin" "$root/$version"
  cp "$NR_HOST_NODE" "$stage/$top/bin/node"
  printf 'Built from %s for the tests.\n' "$NR_HOST_NODE" >"$stage/$top/README.md"
  out=$root/$version/$top.tar.$format
  case $format in
    gz) tar -C "$stage" -cf - "$top" | gzip -1 >"$out" ;;
    xz) tar -C "$stage" -cf - "$top" | xz -0 -T2 >"$out" ;;
  esac
  rm -rf "$stage"
  printf '%s\n' "$out"
}

# nr_build_tampered ROOT VERSION CANARY: a .tar.gz with the release's name and layout whose
# bin/node is a script that creates CANARY when run (and answers --version correctly).
nr_build_tampered() {
  local root=$1 version=$2 canary=$3 top stage
  top=node-$version-linux-$(nr_arch)
  stage=$(mktemp -d)
  mkdir -p "$stage/$top/bin" "$root/$version"
  # shellcheck disable=SC2016 # $0 and $* belong to the script written here
  printf '#!/bin/sh\necho "ran $0 $*" >>%q\necho %s\n' "$canary" "$version" >"$stage/$top/bin/node"
  chmod +x "$stage/$top/bin/node"
  tar -C "$stage" -czf "$root/$version/$top.tar.gz" "$top"
  rm -rf "$stage"
}

nr_sha256() {
  local out
  out=$(sha256sum "$1")
  printf '%s\n' "${out%% *}"
}

# nr_sysbin DIR: a bin directory with every tool of /usr/bin and /usr/sbin except Node.js,
# so that a PATH of DIR alone has no node.
nr_sysbin() {
  local dir=$1 f name
  mkdir -p "$dir"
  for f in /usr/sbin/* /usr/bin/*; do
    name=${f##*/}
    case $name in node | nodejs | npm | npx | corepack) continue ;; esac
    [ -e "$dir/$name" ] || ln -s "$f" "$dir/$name"
  done
}

# nr_plugin DIR VERSION FILE SUM: a copy of the plugin's hooks with this release pinned, and a
# stand-in dist/ whose hooks record which node ran them.
nr_plugin() {
  local dir=$1 version=$2 file=$3 sum=$4 hook
  mkdir -p "$dir/dist"
  cp -R "$NR_REPO/hooks" "$dir/hooks"
  printf '%s\n' "$version" >"$dir/hooks/lib/node-release.version"
  printf '%s  %s\n' "$sum" "$file" >"$dir/hooks/lib/node-release.sha256"
  for hook in environment command pre-exit; do
    cat >"$dir/dist/$hook.js" <<'JS'
const fs = require('fs');
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
fs.appendFileSync(process.env.BUILDKIT_PLUGIN_EXPORTS_FILE,
  `export PROVISIONED_NODE_OK=1\n` +
  `export PROVISIONED_NODE_ARGV0=${q(process.argv0)}\n` +
  `export PROVISIONED_NODE_EXEC_PATH=${q(process.execPath)}\n` +
  `export PROVISIONED_NODE_VERSION=${q(process.version)}\n`);
JS
  done
}

# nr_wrapper FILE: what the agent runs for a shell hook: source it, keep its status, dump env.
nr_wrapper() {
  cat >"$1" <<'SH'
#!/bin/bash
. "$1"
export BUILDKITE_HOOK_EXIT_STATUS=$?
export -p >"$NR_ENV_DUMP"
exit "$BUILDKITE_HOOK_EXIT_STATUS"
SH
}

# nr_server_start ROOT LOG [DELAY_MS] [TRUNCATE]: serves ROOT on 127.0.0.1 (a free port),
# appending "METHOD PATH" to LOG for each request; with DELAY_MS it waits before answering;
# with TRUNCATE=1 it sends half of each file and drops the connection. Sets NR_SERVER_PID and
# NR_SERVER_URL.
nr_server_start() {
  local root=$1 log=$2 delay=${3:-0} truncate=${4:-0} portfile
  portfile=$(mktemp)
  rm -f "$portfile"
  : >"$log"
  # shellcheck disable=SC2016 # JavaScript, not shell
  "$NR_HOST_NODE" -e '
    const http = require("http"), fs = require("fs"), path = require("path");
    const [root, log, portfile, delay, truncate] = process.argv.slice(1);
    const server = http.createServer((req, res) => {
      fs.appendFileSync(log, `${req.method} ${req.url}\n`);
      const file = path.join(root, decodeURIComponent(new URL(req.url, "http://x").pathname));
      let st;
      try { st = fs.statSync(file); } catch { st = null; }
      if (!file.startsWith(root + path.sep) || !st || !st.isFile()) { res.writeHead(404); res.end(); return; }
      setTimeout(() => {
        res.writeHead(200, { "content-length": st.size, "content-type": "application/octet-stream" });
        if (truncate === "1") {
          const half = fs.readFileSync(file).subarray(0, Math.floor(st.size / 2));
          res.write(half, () => res.socket.destroy());
        } else {
          fs.createReadStream(file).pipe(res);
        }
      }, Number(delay));
    });
    server.listen(0, "127.0.0.1", () => fs.writeFileSync(portfile, String(server.address().port)));
  ' "$root" "$log" "$portfile" "$delay" "$truncate" &
  NR_SERVER_PID=$!
  for _ in $(seq 100); do
    [ -s "$portfile" ] && break
    sleep 0.05
  done
  [ -s "$portfile" ] || { echo "release server did not start" >&2; return 1; }
  NR_SERVER_URL=http://127.0.0.1:$(cat "$portfile")
  rm -f "$portfile"
}

nr_server_stop() {
  if [ -n "${NR_SERVER_PID:-}" ]; then
    kill "$NR_SERVER_PID" 2>/dev/null
    wait "$NR_SERVER_PID" 2>/dev/null || true
    NR_SERVER_PID=
  fi
  return 0
}

# nr_hook HOOK [VAR=VALUE...]: runs the plugin copy's hook the way the agent does, in a clean
# environment: PATH=$NR_PATH (no node unless a test puts one there), HOME=$NR_HOME, the
# mirror option pointing at the release server. Extra VAR=VALUE pairs win.
nr_hook() {
  local hook=$1
  shift
  # A dump left by an earlier hook must not pass for this one's.
  : >"$NR_ENV_DUMP"
  /usr/bin/env -i \
    HOME="$NR_HOME" PATH="$NR_PATH" TMPDIR="$NR_TMP" LANG=C \
    NR_ENV_DUMP="$NR_ENV_DUMP" \
    BUILDKITE_PLUGIN_BUILDKIT_NODE_MIRROR="${NR_SERVER_URL:-}" \
    "$@" \
    /bin/bash "$NR_WRAPPER" "$NR_PLUGIN/hooks/$hook"
}
