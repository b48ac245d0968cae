#!/usr/bin/env bash
# shellcheck disable=SC2317 # clean-up and polling helpers run from traps and as arguments
# Usage: scripts/with-engine.sh CMD [ARGS...]
#
# Runs CMD with a Docker engine (embedded BuildKit + the buildx plugin) and a local
# plain-HTTP registry, then stops everything this script started (by pid), removes its
# temp dir and exits with CMD's status. Set-up failures exit 125.
#
# Environment given to CMD (see docs/test-environment.md):
#   DOCKER_HOST                        the engine (private: containerd image store)
#   BUILDKIT_TEST_REGISTRY             127.0.0.1:PORT of a registry started for this run
#   BUILDKIT_TEST_CLASSIC_DOCKER_HOST  only with WITH_CLASSIC_ENGINE=1 on private engines:
#                                      a second engine with the classic overlay2 store
#   BUILDKIT_TEST_ENGINE               private | reused
#   BUILDKIT_WITH_ENGINE=1             marker; a nested with-engine.sh just runs its CMD
#
# Knobs: WITH_ENGINE=auto|private|reuse (default auto: reuse a working engine, else start
# a private one), WITH_CLASSIC_ENGINE=1, WITH_CLASSIC_STORAGE_DRIVER (default overlay2),
# WITH_ENGINE_REGISTRY=auto|binary|container, WITH_ENGINE_REGISTRY_IMAGE (default
# registry:2, never pulled), WITH_ENGINE_TIMEOUT (readiness, seconds, default 60),
# WITH_ENGINE_KEEP_TMP=1 (keep the temp dir and its logs).
set -euo pipefail

prog=with-engine
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() {
  log "$*"
  exit 125
}
have() { command -v "$1" >/dev/null 2>&1; }
tmo() { # tmo SECONDS CMD...: run CMD with a time limit when timeout(1) exists
  local s=$1
  shift
  if have timeout; then timeout "$s" "$@"; else "$@"; fi
}

if [ "$#" -eq 0 ]; then
  awk 'NR > 2 && !/^#/ {exit} NR > 2 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}" >&2
  exit 125
fi

# Nested use: the outer with-engine.sh already provides everything.
if [ "${BUILDKIT_WITH_ENGINE:-}" = 1 ] && [ -n "${BUILDKIT_TEST_REGISTRY:-}" ] && [ -n "${DOCKER_HOST:-}" ]; then
  if [ "${WITH_CLASSIC_ENGINE:-}" = 1 ] && [ -z "${BUILDKIT_TEST_CLASSIC_DOCKER_HOST:-}" ]; then
    log "note: WITH_CLASSIC_ENGINE=1 but the outer with-engine.sh started no classic engine"
  fi
  exec "$@"
fi

mode=${WITH_ENGINE:-auto}
case "$mode" in auto | private | reuse) ;; *) die "WITH_ENGINE must be auto, private or reuse (got '$mode')" ;; esac
want_classic=${WITH_CLASSIC_ENGINE:-0}
classic_driver=${WITH_CLASSIC_STORAGE_DRIVER:-overlay2}
reg_mode=${WITH_ENGINE_REGISTRY:-auto}
case "$reg_mode" in auto | binary | container) ;; *) die "WITH_ENGINE_REGISTRY must be auto, binary or container" ;; esac
reg_image=${WITH_ENGINE_REGISTRY_IMAGE:-registry:2}
ready_timeout=${WITH_ENGINE_TIMEOUT:-60}
unset BUILDKIT_TEST_CLASSIC_DOCKER_HOST BUILDKIT_TEST_REGISTRY BUILDKIT_TEST_ENGINE

# ---------------------------------------------------------------- state + clean-up
tmp=""           # our temp dir; the only place we ever delete from
cmd_pid=""       # CMD, while it runs
pending_sig=""   # a signal that arrived before CMD ran: acted on at safe points
reg_pid=""       # docker-registry binary
reg_ctr=""       # registry container on a reused engine
engines=()       # names of private engines started (dirs under $tmp)
dockerd_pids=()  # parallel to engines
ctd_pids=()      # parallel to engines
t_start=""

now_ms() {
  if [ -n "${EPOCHREALTIME:-}" ]; then
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
  else
    echo $(($(date +%s) * 1000))
  fi
}
secs_since() { # secs_since MS -> "1.3"
  local d=$(($(now_ms) - $1))
  printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

# alive PID: running and not a zombie waiting to be reaped by us.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    local st
    st=$(<"/proc/$1/stat") || return 1 # no fork; "pid (comm) state ..."
    st=${st##*) }
    [ "${st%% *}" != Z ]
  fi
}

# stop_pid PID SECONDS: TERM, wait, then KILL; reaps it if it is our child.
stop_pid() {
  local pid=$1 limit=$(($2 * 10)) i=0
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && [ "$i" -lt "$limit" ]; do
    sleep 0.1
    i=$((i + 1))
  done
  if alive "$pid"; then
    log "pid $pid did not stop after $2s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  wait "$pid" 2>/dev/null || true
}

# Mount points under our temp dir, deepest first (mountinfo escapes spaces etc. as \ooo).
our_mounts() {
  [ -r /proc/self/mountinfo ] || return 0
  local m
  awk '{print $5}' /proc/self/mountinfo | while IFS= read -r m; do
    m=$(printf '%b' "$m")
    case "$m" in "$tmp"/*) printf '%s\n' "$m" ;; esac
  done | sort -r
}

# After a crash of dockerd/containerd, containers may survive: delete them through runc with
# our own state root, and stop their shims (the parents of their init pids).
reap_containers() {
  local d=$1 root st id init shim
  root="$d/exec/runtime-runc/moby"
  [ -d "$root" ] || return 0
  for st in "$root"/*/; do
    [ -d "$st" ] || continue
    id=$(basename "$st")
    shim=""
    init=$(cat "$d/ctd/state/io.containerd.runtime.v2.task/moby/$id/init.pid" 2>/dev/null || true)
    if [ -n "$init" ] && [ -r "/proc/$init/status" ]; then
      shim=$(awk '/^PPid:/ {print $2}' "/proc/$init/status")
    fi
    log "removing left-over container $id"
    runc --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    if [ -n "$shim" ] && [ "$shim" != 1 ] && grep -q containerd-shim "/proc/$shim/cmdline" 2>/dev/null; then
      stop_pid "$shim" 5
    fi
  done
}

cleanup() {
  local rc=$? i d m
  # bash 5.2 can run the EXIT trap in a command substitution forked while this trap runs
  # (seen after an early SIGINT); only the script itself cleans up.
  [ "${BASHPID:-$$}" = "$$" ] || return 0
  trap 'log "still cleaning up, please wait"' INT TERM HUP
  set +e
  if [ -n "$cmd_pid" ] && alive "$cmd_pid"; then
    stop_pid "$cmd_pid" 10
  fi
  if [ -n "$reg_ctr" ]; then
    docker rm -f "$reg_ctr" >/dev/null 2>&1 || log "could not remove registry container $reg_ctr"
  fi
  stop_pid "$reg_pid" 5
  # Stop running containers quickly, then the daemons, newest first.
  for ((i = ${#engines[@]} - 1; i >= 0; i--)); do
    d="$tmp/${engines[$i]}"
    if [ -n "${dockerd_pids[$i]:-}" ] && alive "${dockerd_pids[$i]}"; then
      local ids
      ids=$(DOCKER_HOST="unix://$d/docker.sock" tmo 10 docker ps -q 2>/dev/null)
      if [ -n "$ids" ]; then
        # shellcheck disable=SC2086 # one id per word
        DOCKER_HOST="unix://$d/docker.sock" tmo 20 docker kill $ids >/dev/null 2>&1
      fi
    fi
    stop_pid "${dockerd_pids[$i]:-}" 30
  done
  for ((i = ${#engines[@]} - 1; i >= 0; i--)); do
    stop_pid "${ctd_pids[$i]:-}" 15
    reap_containers "$tmp/${engines[$i]}"
  done
  if [ -n "$tmp" ] && [ -d "$tmp" ]; then
    while IFS= read -r m; do
      [ -n "$m" ] || continue
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
    done < <(our_mounts)
    if [ "${WITH_ENGINE_KEEP_TMP:-}" = 1 ]; then
      log "kept $tmp"
    elif [ -n "$(our_mounts)" ]; then
      log "mounts remain under $tmp; not removing it"
    elif rm --help 2>&1 | grep -q one-file-system; then
      rm -rf --one-file-system -- "$tmp" || log "could not remove all of $tmp"
    else
      rm -rf -- "$tmp" || log "could not remove all of $tmp"
    fi
  fi
  exit "$rc"
}

# A Ctrl-C on a terminal already reached CMD (same process group): forwarding it again
# would make CMD see two interrupts. Linux: /proc/$$/stat fields 5 and 8 are pgrp, tpgid.
tty_interrupt() {
  [ -t 0 ] && [ -r "/proc/$$/stat" ] || return 1
  local f pgrp tpgid
  f=$(sed 's/^.*) //' "/proc/$$/stat") # drop "pid (comm) ", comm may hold spaces
  read -r _ _ pgrp _ _ tpgid _ <<<"$f"
  [ "$pgrp" = "$tpgid" ]
}

# Before CMD runs, a signal is only noted: exiting from the trap could fall between starting
# a daemon and recording its pid. check_pending exits at points where the state is whole.
on_signal() {
  local sig=$1
  if [ -n "$cmd_pid" ]; then
    if [ "$sig" != INT ] || ! tty_interrupt; then
      kill -s "$sig" "$cmd_pid" 2>/dev/null || true
    fi
  else
    pending_sig=${pending_sig:-$sig}
  fi
}
check_pending() {
  [ -n "$pending_sig" ] || return 0
  log "got SIG$pending_sig during start-up; stopping"
  case "$pending_sig" in INT) exit 130 ;; TERM) exit 143 ;; *) exit 129 ;; esac
}
trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# spawn LOGFILE CMD...: start a daemon in the background, in its own session when possible
# (so a terminal's Ctrl-C reaches CMD, not the daemons; we stop them ourselves). Sets $!.
# No job control here, so the child is never a group leader and setsid does not fork.
spawn() {
  local logf=$1
  shift
  if have setsid; then
    setsid "$@" </dev/null >"$logf" 2>&1 &
  else
    "$@" </dev/null >"$logf" 2>&1 &
  fi
}

# wait_ready WHAT PID LOGFILE CMD...: poll CMD until it succeeds; returns 1 (after showing
# the log) when PID dies, so the caller may try again; exits 125 when time runs out.
wait_ready() {
  local what=$1 pid=$2 logf=$3 deadline=$((SECONDS + ready_timeout))
  shift 3
  until "$@" >/dev/null 2>&1; do
    check_pending
    if [ -n "$pid" ] && ! alive "$pid"; then
      log "$what exited during start-up; last lines of $logf:"
      tail -n 30 "$logf" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$what not ready after ${ready_timeout}s; last lines of $logf:"
      tail -n 30 "$logf" >&2 || true
      exit 125
    fi
    sleep 0.1
  done
}

# ---------------------------------------------------------------- choose the engine
docker_answers() { tmo 20 docker info >/dev/null 2>&1; }

engine_kind=private
if [ "$mode" != private ] && have docker; then
  if [ -n "${DOCKER_HOST:-}" ] && docker_answers; then
    engine_kind=reused
  else
    if [ -n "${DOCKER_HOST:-}" ]; then
      log "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'; trying the default engine"
    fi
    # The current docker context: by default unix:///var/run/docker.sock.
    if (unset DOCKER_HOST && docker_answers); then
      unset DOCKER_HOST
      engine_kind=reused
    fi
  fi
fi
if [ "$mode" = reuse ] && [ "$engine_kind" != reused ]; then
  die "WITH_ENGINE=reuse but no Docker engine answers 'docker info' (DOCKER_HOST=${DOCKER_HOST:-unset})"
fi
if [ "$engine_kind" = reused ] && ! docker buildx version >/dev/null 2>&1; then
  die "the Docker engine answers but 'docker buildx version' fails: install the buildx plugin"
fi

registry_bin=""
find_registry_bin() {
  registry_bin=""
  if have docker-registry; then
    registry_bin=docker-registry
  elif have registry && registry --version 2>&1 | grep -qi distribution; then
    registry_bin=registry
  fi
}

private_tools_ok() {
  have docker && have dockerd && have containerd && have runc && have docker-registry &&
    docker buildx version >/dev/null 2>&1
}

if [ "$engine_kind" = private ]; then
  [ "$(uname -s)" = Linux ] || die "no Docker engine answers 'docker info', and private engines need Linux"
  if ! private_tools_ok; then
    [ "$(id -u)" -eq 0 ] || die "no Docker engine answers, and starting a private one needs root and dockerd, containerd, runc, docker, docker buildx, docker-registry"
    [ -x "$here/install-deps.sh" ] || die "missing tools and no $here/install-deps.sh"
    log "installing missing tools with scripts/install-deps.sh"
    "$here/install-deps.sh" >&2 || die "scripts/install-deps.sh failed"
    missing=""
    for t in docker dockerd containerd runc docker-registry; do have "$t" || missing="$missing $t"; done
    if [ -z "$missing" ] && ! docker buildx version >/dev/null 2>&1; then missing=" docker-buildx"; fi
    case "$missing" in *" docker "* | *" docker") missing="$missing (the docker CLI is Debian's docker-cli package)" ;; esac
    [ -z "$missing" ] || die "still missing after install-deps.sh:$missing"
  fi
  [ "$(id -u)" -eq 0 ] || die "starting a private dockerd needs root (or point DOCKER_HOST at a running engine)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/with-engine.XXXXXX")
t_start=$(now_ms)
if [ "$engine_kind" = private ] && [ "${#tmp}" -gt 70 ]; then
  die "temp dir path $tmp is too long for unix sockets; set TMPDIR to a shorter path"
fi

# ---------------------------------------------------------------- private engines
# start_containerd NAME: a containerd of our own (dockerd would otherwise attach to a system
# containerd at /run/containerd/containerd.sock if there is one, sharing its images).
start_containerd() {
  local name=$1 d="$tmp/$1"
  mkdir -p "$d/ctd/tmp"
  cat >"$d/ctd/config.toml" <<EOF
version = 2
root = "$d/ctd/root"
state = "$d/ctd/state"
temp = "$d/ctd/tmp"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]

[grpc]
  address = "$d/ctd/containerd.sock"
EOF
  spawn "$d/containerd.log" containerd --config "$d/ctd/config.toml"
  engines+=("$name")
  ctd_pids+=("$!")
  dockerd_pids+=("")
  check_pending
}

# start_dockerd INDEX DAEMON_JSON
start_dockerd() {
  local i=$1 d="$tmp/${engines[$1]}"
  printf '%s\n' "$2" >"$d/daemon.json"
  wait_ready "containerd (${engines[$i]})" "${ctd_pids[$i]}" "$d/containerd.log" test -S "$d/ctd/containerd.sock" || exit 125
  spawn "$d/dockerd.log" dockerd --config-file "$d/daemon.json" \
    --containerd "$d/ctd/containerd.sock" \
    --data-root "$d/root" --exec-root "$d/exec" \
    -H "unix://$d/docker.sock" --pidfile "$d/dockerd.pid"
  dockerd_pids[i]=$!
  check_pending
}

docker_info_at() { DOCKER_HOST=$1 tmo 10 docker info; }

engine_ready() { # engine_ready INDEX
  local i=$1 d="$tmp/${engines[$1]}" p
  wait_ready "dockerd (${engines[$i]})" "${dockerd_pids[$i]}" "$d/dockerd.log" \
    docker_info_at "unix://$d/docker.sock" || exit 125
  p=$(cat "$d/dockerd.pid" 2>/dev/null || true)
  if [ -n "$p" ] && [ "$p" != "${dockerd_pids[$i]}" ]; then
    log "note: dockerd pidfile says $p, we started ${dockerd_pids[$i]}"
  fi
  if ! DOCKER_HOST="unix://$d/docker.sock" docker buildx version >/dev/null 2>&1; then
    die "'docker buildx version' fails against the ${engines[$i]} engine"
  fi
}

no_bridge='"bridge":"none","iptables":false,"ip-masq":false,"ip6tables":false'
summary=""
classic_host=""
if [ "$engine_kind" = private ]; then
  start_containerd main
  if [ "$want_classic" = 1 ]; then start_containerd classic; fi
  start_dockerd 0 "{\"features\":{\"containerd-snapshotter\":true},$no_bridge}"
  if [ "$want_classic" = 1 ]; then
    start_dockerd 1 "{\"storage-driver\":\"$classic_driver\",$no_bridge}"
  fi
fi

# ---------------------------------------------------------------- registry
pick_port() {
  local p i
  for i in $(seq 50); do
    p=$((20000 + RANDOM % 12000))
    # Something answering a connect means the port is taken.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

registry_answers() { # registry_answers PORT
  if have curl; then
    curl -fsS --noproxy '*' -m 2 -o /dev/null "http://127.0.0.1:$1/v2/"
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

reg_port=""
reg_desc=""
start_registry_bin() {
  local port secret
  mkdir -p "$tmp/registry"
  secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  for _ in 1 2 3 4 5; do
    port=$(pick_port) || die "no free port found for the registry"
    cat >"$tmp/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $secret
EOF
    spawn "$tmp/registry.log" "$registry_bin" serve "$tmp/registry.yml"
    reg_pid=$!
    check_pending
    if wait_ready "registry" "$reg_pid" "$tmp/registry.log" registry_answers "$port"; then
      reg_port=$port
      reg_desc="$registry_bin pid $reg_pid"
      return 0
    fi
    wait "$reg_pid" 2>/dev/null || true
    reg_pid=""
    # Another process took the port between pick_port and the bind: try another one.
    grep -q 'address already in use' "$tmp/registry.log" || exit 125
  done
  die "registry: no free port after 5 tries"
}

start_registry_container() {
  local port
  docker image inspect "$reg_image" >/dev/null 2>&1 ||
    die "registry: image $reg_image is not present on the engine (it is never pulled) and ${registry_bin:-no docker-registry binary was found}${registry_bin:+ was not chosen}: install docker-registry (Debian) or distribution (Homebrew), or pull $reg_image yourself"
  for _ in 1 2 3 4 5; do
    port=$(pick_port) || die "no free port found for the registry"
    check_pending
    if reg_ctr=$(docker run -d --rm --pull never -p "127.0.0.1:$port:5000" \
      -e REGISTRY_STORAGE_DELETE_ENABLED=true "$reg_image" 2>"$tmp/registry.log"); then
      wait_ready "registry container" "" "$tmp/registry.log" registry_answers "$port" || exit 125
      reg_port=$port
      reg_desc="container ${reg_ctr:0:12} of $reg_image"
      return 0
    fi
    reg_ctr=""
    grep -qiE 'already (in use|allocated)' "$tmp/registry.log" || {
      cat "$tmp/registry.log" >&2
      die "could not start the registry container"
    }
  done
  die "registry: no free port after 5 tries"
}

find_registry_bin
if [ "$engine_kind" = private ]; then
  [ -n "$registry_bin" ] || die "no docker-registry binary (Debian package docker-registry)"
  [ "$reg_mode" != container ] || log "note: WITH_ENGINE_REGISTRY=container ignored: private engines have no bridge network"
  start_registry_bin
else
  use_container=0
  case "$reg_mode" in
    container) use_container=1 ;;
    binary) [ -n "$registry_bin" ] || die "WITH_ENGINE_REGISTRY=binary but no docker-registry binary" ;;
    auto) [ -n "$registry_bin" ] || use_container=1 ;;
  esac
  if [ "$use_container" = 1 ]; then
    start_registry_container
  else
    # An engine in a VM (Docker Desktop), rootless or remote does not share our loopback.
    info=$(docker info --format '{{.OperatingSystem}} {{.SecurityOptions}}' 2>/dev/null || true)
    case "$info ${DOCKER_HOST:-}" in
      *"Docker Desktop"* | *rootless* | *tcp://* | *ssh://*)
        log "warning: this engine may not reach 127.0.0.1:PORT on this host; if pushes fail, use WITH_ENGINE_REGISTRY=container (needs $reg_image locally)"
        ;;
    esac
    start_registry_bin
  fi
fi
export BUILDKIT_TEST_REGISTRY="127.0.0.1:$reg_port"

# ---------------------------------------------------------------- engines ready, env
server_version() { tmo 10 docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'; }

if [ "$engine_kind" = private ]; then
  engine_ready 0
  main_host="unix://$tmp/main/docker.sock"
  summary="started private engine $main_host (dockerd $(DOCKER_HOST=$main_host server_version) pid ${dockerd_pids[0]}, containerd pid ${ctd_pids[0]}, containerd image store)"
  if [ "$want_classic" = 1 ]; then
    engine_ready 1
    classic_host="unix://$tmp/classic/docker.sock"
    summary="$summary; classic engine $classic_host (dockerd pid ${dockerd_pids[1]}, containerd pid ${ctd_pids[1]}, $classic_driver)"
  fi
  unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
  export DOCKER_HOST="$main_host"
  if [ -n "$classic_host" ]; then export BUILDKIT_TEST_CLASSIC_DOCKER_HOST="$classic_host"; fi
else
  if [ -z "${DOCKER_HOST:-}" ]; then
    # Name the engine explicitly when the current context is a plain local/ssh endpoint.
    ctx_host=$(docker context inspect --format '{{.Endpoints.docker.Host}}' 2>/dev/null || true)
    case "$ctx_host" in unix://* | npipe://* | ssh://*) export DOCKER_HOST="$ctx_host" ;; esac
  fi
  summary="reusing engine ${DOCKER_HOST:-from docker context} (dockerd $(server_version))"
  if [ "$want_classic" = 1 ]; then
    summary="$summary; no classic engine (WITH_CLASSIC_ENGINE=1 needs WITH_ENGINE=private)"
  fi
fi
export BUILDKIT_TEST_ENGINE="$engine_kind" BUILDKIT_WITH_ENGINE=1
log "$summary; registry $BUILDKIT_TEST_REGISTRY ($reg_desc); ready in $(secs_since "$t_start")s"
check_pending

# ---------------------------------------------------------------- run CMD
# Without job control a background job would get /dev/null as stdin (unless redirected
# explicitly) and ignore SIGINT/SIGQUIT; give CMD our stdin and default signal handling.
(
  trap - INT QUIT TERM HUP EXIT
  exec "$@"
) <&0 &
cmd_pid=$!
# A signal between starting CMD and recording its pid was only noted: pass it on now.
if [ -n "$pending_sig" ]; then kill -s "$pending_sig" "$cmd_pid" 2>/dev/null || true; fi
status=0
while :; do
  if wait "$cmd_pid"; then status=0; else status=$?; fi
  # wait returns early when a trapped signal arrives; CMD then still exists.
  kill -0 "$cmd_pid" 2>/dev/null || break
done
cmd_pid=""
exit "$status"
