#!/bin/bash
# Finds a Node.js >= 20 for the hooks and prints its absolute path on stdout, and nothing
# else there: every message goes to stderr. In this order:
#   1. `node` on PATH, when it is >= 20 (the fast path: it runs `node --version`, no more);
#   2. the Node.js this plugin provisioned earlier on this host (the per-host cache);
#   3. unless the `node-download` option is false: the release pinned in node-release.version
#      beside this file, for this host (linux x64/arm64, glibc >= 2.28), downloaded from
#      `node-mirror` (default https://nodejs.org/dist), checked against the SHA-256 kept in
#      node-release.sha256 beside this file (never one fetched with the download), unpacked
#      under a lock into a temporary directory and renamed into the cache.
#
# The cache is ${BUILDKIT_PLUGIN_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/buildkite-plugin-buildkit/node}
# (on the Elastic CI Stack: /var/lib/buildkite-agent/.cache/buildkite-plugin-buildkit/node),
# falling back to ${TMPDIR:-/tmp}/buildkite-plugin-buildkit-node-$EUID when that cannot be
# created (apart from the jobs' state directories, so that nothing cleaning those touches it). It holds node-vX-linux-ARCH/bin/node, the SHA-256 of the archive it came from
# (.buildkit-sha256), and a lock file.
#
# shim.bash sources this file inside the agent's hook wrapper: functions are named
# buildkit_*, variables are local (helpers fill in their caller's locals, bash's dynamic
# scope), and nothing here exits, execs or changes shell options in the hook's shell.

# buildkit_find_node PLUGIN_DIR [HOOK] -> path of a usable node on stdout.
# With HOOK pre-exit it never downloads (the agent gives pre-exit a few seconds).
buildkit_find_node() {
  local plugin_dir=${1:-} hook=${2:-} candidate='' found='' major
  # The fast path: PATH lookup with builtins, then one `node --version`.
  if hash node 2>/dev/null; then
    candidate=${BASH_CMDS[node]:-}
  fi
  # Shells without BASH_CMDS (bash 3) or with hashing off (set +h) pay for one subshell.
  [ -n "$candidate" ] || candidate=$(type -P node)
  if [ -n "$candidate" ]; then
    # `exec` replaces only the command substitution's subshell: one process, node itself.
    found=$(exec "$candidate" --version 2>/dev/null)
    major=${found#v}
    major=${major%%.*}
    # (Patterns, not =~, which would leave BASH_REMATCH set in the agent's shell.)
    if [[ $major == [0-9]* && $major != *[!0-9]* ]] && [ "$major" -ge 20 ]; then
      [[ $candidate == /* ]] || candidate=$PWD/$candidate
      printf '%s\n' "$candidate"
      return 0
    fi
  fi
  buildkit_node_provisioned "$plugin_dir" "$hook" "$candidate" "$found"
}

# The plugin's own Node.js: from the cache, or provisioned now.
buildkit_node_provisioned() {
  local plugin_dir=$1 hook=$2 path_node=$3 path_version=$4
  local why arch='' version='' sum_xz='' sum_gz='' top cache node mirror download
  local -a caches=()
  if [ -n "$path_node" ]; then
    why="$path_node is Node.js ${path_version:-of unknown version}"
  else
    why="there is no node on PATH"
  fi
  buildkit_node_platform "$why" || return 1
  buildkit_node_release "$plugin_dir" || return 1
  top=node-$version-linux-$arch
  buildkit_node_cache_dirs

  for cache in "${caches[@]}"; do
    if node=$(buildkit_node_cached "$cache/$top"); then
      printf '%s\n' "$node"
      return 0
    fi
  done

  download=$(buildkit_node_option NODE_DOWNLOAD true)
  case ${download,,} in
    false | no | off | 0)
      buildkit_node_fail "$why, and Node.js $version has not been provisioned on this host (${caches[0]}/$top)." \
        "node-download is false, so the plugin will not download it."
      buildkit_node_ways_forward
      return 1
      ;;
  esac
  if [ "$hook" = pre-exit ]; then
    echo "buildkit plugin: $why and Node.js $version is not in ${caches[0]}; pre-exit does not download it." >&2
    return 1
  fi
  buildkit_node_check_libc "$why" || return 1

  mirror=$(buildkit_node_option NODE_MIRROR https://nodejs.org/dist)
  mirror=${mirror%/}
  for cache in "${caches[@]}"; do
    if buildkit_node_prepare_cache "$cache"; then
      buildkit_node_install "$cache" "$mirror" "$why"
      return
    fi
  done
  buildkit_node_fail "$why, and none of these cache directories can be created: ${caches[*]}." \
    "Set XDG_CACHE_HOME or BUILDKIT_PLUGIN_NODE_CACHE in the agent's environment to a writable directory."
  buildkit_node_ways_forward
  return 1
}

# Prints the flattened plugin option $1 (e.g. NODE_DOWNLOAD), or $2 when it is unset.
# The prefix comes from BUILDKITE_PLUGIN_NAME when the agent sets it, else BUILDKIT.
buildkit_node_option() {
  local prefix=${BUILDKITE_PLUGIN_NAME:-BUILDKIT} name
  prefix=${prefix^^}
  name=BUILDKITE_PLUGIN_${prefix//[^A-Z0-9_]/_}_$1
  printf '%s\n' "${!name:-$2}"
}

# Prints the error lines $@, expanded in the Buildkite log.
buildkit_node_fail() {
  local line
  echo "^^^ +++" >&2
  for line in "$@"; do
    echo "buildkit plugin: $line" >&2
  done
}

# Prints every way to give the hooks a Node.js.
buildkit_node_ways_forward() {
  cat >&2 <<'EOF'
buildkit plugin: the hooks need Node.js >= 20. Any one of these works:
  - install Node.js >= 20 on the agent (in its AMI, image or bootstrap script);
  - put that node on the PATH of the agent's jobs (for example in the agent's environment hook);
  - allow the plugin to download it: node-download: true (the default), with node-mirror: URL
    for a mirror or an air-gapped copy of https://nodejs.org/dist.
EOF
}

# Sets the caller's $arch to x64 or arm64, or says why this host gets no download.
buildkit_node_platform() {
  local uname_sm
  uname_sm=$(uname -sm 2>/dev/null)
  case $uname_sm in
    "Linux x86_64" | "Linux amd64") arch=x64 ;;
    "Linux aarch64" | "Linux arm64") arch=arm64 ;;
    *)
      buildkit_node_fail "$1, and the plugin can only provision Node.js for Linux x64 and arm64 (this host: ${uname_sm:-unknown})." \
        "Install Node.js >= 20 on the agent and put it on the PATH of its jobs."
      return 1
      ;;
  esac
}

# Sets the caller's $version, $sum_xz and $sum_gz (for $arch) from node-release.*.
buildkit_node_release() {
  local dir=$1/hooks/lib sum name line
  read -r version 2>/dev/null <"$dir/node-release.version"
  if [[ $version != v[0-9]*.[0-9]*.[0-9]* || $version == v*[!0-9.]* ]]; then
    echo "buildkit plugin: $dir/node-release.version does not name a Node.js release (vX.Y.Z)." >&2
    return 1
  fi
  while read -r sum name line || [ -n "$sum" ]; do
    case $sum in '#'* | '') continue ;; esac
    [[ ${#sum} -eq 64 && $sum != *[!0-9a-fA-F]* ]] || continue
    name=${name#\*}
    case $name in
      "node-$version-linux-$arch.tar.xz") sum_xz=${sum,,} ;;
      "node-$version-linux-$arch.tar.gz") sum_gz=${sum,,} ;;
    esac
  done <"$dir/node-release.sha256"
  if [ -z "$sum_xz$sum_gz" ]; then
    echo "buildkit plugin: $dir/node-release.sha256 has no checksum for node-$version-linux-$arch.tar.xz or .tar.gz." >&2
    return 1
  fi
}

# Sets the caller's @caches: where the plugin's Node.js lives on this host.
buildkit_node_cache_dirs() {
  local primary fallback=${TMPDIR:-/tmp}/buildkite-plugin-buildkit-node-$EUID
  if [ -n "${BUILDKIT_PLUGIN_NODE_CACHE:-}" ]; then
    primary=$BUILDKIT_PLUGIN_NODE_CACHE
  elif [ -n "${XDG_CACHE_HOME:-}" ]; then
    primary=$XDG_CACHE_HOME/buildkite-plugin-buildkit/node
  elif [ -n "${HOME:-}" ]; then
    primary=$HOME/.cache/buildkite-plugin-buildkit/node
  else
    primary=$fallback
  fi
  [[ $primary == /* ]] || primary=$PWD/$primary
  caches=("$primary")
  [ "$primary" = "$fallback" ] || caches+=("$fallback")
}

# Prints $1/bin/node when $1 holds the pinned release (by the checksum it was unpacked
# from, and by its own --version) and it runs here.
buildkit_node_cached() {
  local dir=$1 sum=''
  [ -f "$dir/bin/node" ] && [ -x "$dir/bin/node" ] || return 1
  read -r sum 2>/dev/null <"$dir/.buildkit-sha256" || [ -n "$sum" ] || return 1
  [ "$sum" = "$sum_xz" ] || [ "$sum" = "$sum_gz" ] || return 1
  [ "$("$dir/bin/node" --version 2>/dev/null)" = "$version" ] || return 1
  printf '%s\n' "$dir/bin/node"
}

# Prints "glibc X.Y", "musl" or "unknown" for this host's C library.
buildkit_node_libc() {
  local out f
  out=$(getconf GNU_LIBC_VERSION 2>/dev/null)
  case $out in
    "glibc "[0-9]*.[0-9]*)
      buildkit_node_glibc_version "${out#glibc }" && return
      ;;
  esac
  out=$(ldd --version 2>&1 </dev/null)
  case $out in
    *musl*)
      echo musl
      return
      ;;
    *GLIBC* | *"GNU libc"* | *"GNU C Library"*)
      # "ldd (GNU libc) 2.26", "ldd (Debian GLIBC 2.36-9+deb12u7) 2.36": the last word.
      out=${out%%$'\n'*}
      buildkit_node_glibc_version "${out##* }" && return
      ;;
  esac
  for f in /lib/ld-musl-*.so.1; do
    if [ -e "$f" ]; then
      echo musl
      return
    fi
  done
  echo unknown
}

# Prints "glibc MAJOR.MINOR" when $1 starts with a version such as 2.26 or 2.36.1.
buildkit_node_glibc_version() {
  local major=${1%%.*} minor=${1#*.}
  minor=${minor%%[!0-9]*}
  [[ $major == [0-9]* && $major != *[!0-9]* && -n $minor ]] || return 1
  printf 'glibc %s.%s\n' "$major" "$minor"
}

# The official Linux binaries of Node.js >= 18 need glibc >= 2.28: refuse other hosts with
# a message instead of unpacking a binary that cannot start.
buildkit_node_check_libc() {
  local libc major minor
  libc=$(buildkit_node_libc)
  case $libc in
    musl)
      buildkit_node_fail "$1, and this host uses musl libc (Alpine, or an image built on it such as moby/buildkit): the official Node.js builds need glibc, so the plugin does not download one." \
        "Run the plugin in an agent image that has bash and Node.js >= 20: the plugin's examples/kubernetes/Dockerfile (moby/buildkit plus bash, nodejs, git), or on Alpine apk add bash nodejs (Alpine 3.19 has Node.js 20); docs/node-runtime.md, section Kubernetes (agent-stack-k8s), shows how."
      return 1
      ;;
    glibc\ *)
      major=${libc#glibc }
      minor=${major#*.}
      major=${major%%.*}
      if [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt 28 ]; }; then
        buildkit_node_fail "$1, and this host has ${libc}: the official Node.js $version builds need glibc >= 2.28 (Amazon Linux 2, CentOS 7 and older have less), so the plugin does not download them." \
          "On the Elastic CI Stack for AWS, use a stack on Amazon Linux 2023 (v6 or later); elsewhere install a Node.js >= 20 built for this OS."
        return 1
      fi
      ;;
    *)
      echo "buildkit plugin: cannot tell this host's C library; trying the official Node.js $version build anyway." >&2
      ;;
  esac
}

# Creates cache directory $1; in a shared tmp directory, only one of our own.
buildkit_node_prepare_cache() {
  local dir=$1
  case $dir in
    "${TMPDIR:-/tmp}"/buildkite-plugin-buildkit-node-"$EUID")
      [ -d "$dir" ] || mkdir -m 700 "$dir" 2>/dev/null || return 1
      [ -O "$dir" ] && [ ! -L "$dir" ] && [ -w "$dir" ]
      return
      ;;
  esac
  mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]
}

# Provisions the pinned release into cache $1 from mirror $2, one job per host at a time.
buildkit_node_install() {
  local cache=$1
  # The subshell keeps the lock's file descriptor and the cleanup trap out of the hook's shell.
  (buildkit_node_install_locked "$@") 9>>"$cache/.lock"
}

buildkit_node_install_locked() {
  local cache=$1 mirror=$2 why=$3 start waited='' node file sum url tmp unpack
  start=$(buildkit_node_now_us)
  if type -P flock >/dev/null; then
    if ! flock -n 9; then
      echo "buildkit plugin: another job on this host is provisioning Node.js $version; waiting for it." >&2
      if ! flock -w 900 9; then
        echo "buildkit plugin: gave up after waiting 15 minutes for the lock on $cache/.lock." >&2
        return 1
      fi
      waited=1
    fi
    # Every writer holds the lock, so these are leftovers of a job that was killed.
    rm -rf "$cache"/.download.* "$cache"/.unpack.*
  else
    echo "buildkit plugin: flock (util-linux) is missing; concurrent jobs may each download Node.js." >&2
  fi
  if node=$(buildkit_node_cached "$cache/$top"); then
    if [ -n "$waited" ]; then
      echo "buildkit plugin: using the Node.js $version that another job provisioned on this host (waited $(buildkit_node_elapsed "$start"))." >&2
    fi
    printf '%s\n' "$node"
    return 0
  fi

  # .tar.gz: gzip is everywhere, and its unpacking (1.2 s against 2.3 s for .tar.xz in
  # scripts/bench-node.sh) saves more than xz's smaller download (30 MB against 57 MB) costs
  # on EC2's network. .tar.xz when only that is pinned.
  if [ -n "$sum_gz" ]; then
    file=$top.tar.gz sum=$sum_gz
  elif type -P xz >/dev/null; then
    file=$top.tar.xz sum=$sum_xz
  else
    echo "buildkit plugin: $top.tar.xz needs xz, which is not installed (and no .tar.gz is pinned)." >&2
    return 1
  fi
  url=$mirror/$version/$file
  echo "--- :nodejs: Provisioning Node.js $version for the buildkit plugin (once per host)" >&2
  echo "buildkit plugin: $why; downloading $url" >&2

  if ! tmp=$(mktemp "$cache/.download.XXXXXX") || ! unpack=$(mktemp -d "$cache/.unpack.XXXXXX"); then
    echo "buildkit plugin: cannot create temporary files in $cache." >&2
    return 1
  fi
  # This runs in buildkit_node_install's subshell: the traps end with it. Expanded now, as
  # the locals are gone when the subshell exits.
  # shellcheck disable=SC2064
  trap "rm -rf $(printf '%q ' "$tmp" "$unpack")" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if ! buildkit_node_fetch "$url" "$tmp"; then
    rm -f "$tmp"
    echo "^^^ +++" >&2
    echo "buildkit plugin: downloading $url failed; the partial download was deleted. Check the agent's network or set node-mirror." >&2
    return 1
  fi
  if ! buildkit_node_verify "$tmp" "$sum" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  if ! tar -x -f "$tmp" -C "$unpack" --no-same-owner "$top/bin/node"; then
    echo "^^^ +++" >&2
    echo "buildkit plugin: $file matched its checksum but could not be unpacked into $cache (disk full?)." >&2
    return 1
  fi
  rm -f "$tmp"
  node=$unpack/$top/bin/node
  if [ ! -f "$node" ] || [ -L "$node" ] || [ "$("$node" --version 2>/dev/null)" != "$version" ]; then
    echo "^^^ +++" >&2
    echo "buildkit plugin: the Node.js $version from $file does not run on this host; nothing was kept." >&2
    return 1
  fi
  printf '%s\n' "$sum" >"$unpack/$top/.buildkit-sha256" || return 1
  # Rename into place. Without flock another job may have got there first: use its copy.
  # A copy that fails the checks (a damaged cache) is moved aside and replaced.
  if [ -e "$cache/$top" ]; then
    if node=$(buildkit_node_cached "$cache/$top"); then
      printf '%s\n' "$node"
      return 0
    fi
    mv -- "$cache/$top" "$unpack/stale" || return 1
  fi
  if ! mv -T -- "$unpack/$top" "$cache/$top" 2>/dev/null; then
    if node=$(buildkit_node_cached "$cache/$top"); then
      printf '%s\n' "$node"
      return 0
    fi
    echo "buildkit plugin: cannot rename the unpacked Node.js into $cache/$top." >&2
    return 1
  fi
  echo "buildkit plugin: Node.js $version verified (sha256 $sum) and unpacked to $cache/$top in $(buildkit_node_elapsed "$start"); later jobs on this host reuse it." >&2
  printf '%s\n' "$cache/$top/bin/node"
}

# Copies URL $1 to file $2: a local path or file:// URL (air-gapped mirrors), else curl or wget.
buildkit_node_fetch() {
  local url=$1 dest=$2
  case $url in
    /*) cp -- "$url" "$dest" ;;
    file://*) cp -- "${url#file://}" "$dest" ;;
    *)
      if type -P curl >/dev/null; then
        curl -fsSL --retry 2 --connect-timeout 30 --max-time 900 -o "$dest" "$url"
      elif type -P wget >/dev/null; then
        wget -q --tries=3 --timeout=30 -O "$dest" "$url"
      else
        echo "buildkit plugin: neither curl nor wget is installed." >&2
        return 1
      fi
      ;;
  esac
}

# Checks file $1 against the pinned SHA-256 $2 (for the message: its name $3).
buildkit_node_verify() {
  local out actual
  if type -P sha256sum >/dev/null; then
    out=$(sha256sum -b -- "$1")
  elif type -P shasum >/dev/null; then
    out=$(shasum -a 256 -b -- "$1")
  elif type -P openssl >/dev/null; then
    out=$(openssl dgst -sha256 -r "$1")
  else
    echo "buildkit plugin: no sha256sum, shasum or openssl to verify $3." >&2
    return 1
  fi
  actual=${out%% *}
  actual=${actual,,}
  if [ "$actual" != "$2" ]; then
    echo "^^^ +++" >&2
    echo "buildkit plugin: $3 does not match the checksum pinned in hooks/lib/node-release.sha256" >&2
    echo "buildkit plugin:   expected sha256 $2" >&2
    echo "buildkit plugin:   got      sha256 ${actual:-(none)}" >&2
    echo "buildkit plugin: the download was deleted and nothing from it was run. Check node-mirror, or a proxy that rewrites downloads." >&2
    return 1
  fi
}

# Microseconds since the epoch (whole seconds on bash < 5).
buildkit_node_now_us() {
  local now=${EPOCHREALTIME:-}
  now=${now//[!0-9]/}
  printf '%s\n' "${now:-$((SECONDS * 1000000))}"
}

# Prints the time since $1 (from buildkit_node_now_us) as e.g. 4.2s.
buildkit_node_elapsed() {
  local us
  us=$(($(buildkit_node_now_us) - $1))
  printf '%d.%ds\n' $((us / 1000000)) $((us / 100000 % 10))
}
