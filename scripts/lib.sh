# Shared helpers and settings for the test-server scripts (scripts/servers.sh,
# scripts/kafka/*.sh, scripts/influxdb/*.sh). Source it; do not run it.
#
# Every setting can be overridden from the environment; docs/testing.md lists them.

# shellcheck shell=bash

RW_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Downloaded jars and built binaries live here, outside the repository.
RW_CACHE="${ROAMWATCH_CACHE:-/var/cache/roamwatch}"
# Maven's local repository and Go's module and build caches for these builds also
# live under the cache dir, so that removing it gives a truly cold install.
RW_M2_REPO="$RW_CACHE/m2"
RW_GOPATH="$RW_CACHE/go"
# Data, logs, pid files and rendered configs of the running servers.
RW_STATE="${ROAMWATCH_STATE:-/var/lib/roamwatch-test}"

RW_KAFKA_VERSION="${ROAMWATCH_KAFKA_VERSION:-3.9.2}"
RW_KAFKA_HOST="127.0.0.1"
RW_KAFKA_PORT="${ROAMWATCH_KAFKA_PORT:-9092}"
RW_KAFKA_CONTROLLER_PORT="${ROAMWATCH_KAFKA_CONTROLLER_PORT:-9093}"
# The SASL_SSL listener (SCRAM users, ACLs); its CA, certificates and passwords are made at
# start in $RW_KAFKA_STATE/tls and $RW_KAFKA_STATE/secrets (docs/security.md).
RW_KAFKA_SASL_SSL_PORT="${ROAMWATCH_KAFKA_SASL_SSL_PORT:-9094}"
RW_KAFKA_HEAP="${ROAMWATCH_KAFKA_HEAP:--Xms256m -Xmx512m}"
RW_KAFKA_HOME="$RW_CACHE/kafka-$RW_KAFKA_VERSION"
RW_KAFKA_STATE="$RW_STATE/kafka"

RW_INFLUX_VERSION="${ROAMWATCH_INFLUX_VERSION:-1.8.3}"
RW_INFLUX_HOST="127.0.0.1"
RW_INFLUX_PORT="${ROAMWATCH_INFLUX_PORT:-8086}"
RW_INFLUX_RPC_PORT="${ROAMWATCH_INFLUX_RPC_PORT:-8088}"
# 2.x bucket name; on InfluxDB 1.8 a bucket is "database/retention-policy".
RW_INFLUX_BUCKET="${ROAMWATCH_INFLUX_BUCKET:-roamwatch/autogen}"
RW_INFLUX_HOME="$RW_CACHE/influxdb-$RW_INFLUX_VERSION"
RW_INFLUX_STATE="${ROAMWATCH_INFLUX_STATE:-$RW_STATE/influxdb}"
# Authentication ([http] auth-enabled): off for the shared test instance; on for the second
# instance `influxdb-auth` of scripts/servers.sh (port 8087), which the security tests use.
RW_INFLUX_AUTH="${ROAMWATCH_INFLUX_AUTH:-false}"
RW_INFLUX_AUTH_PORT="${ROAMWATCH_INFLUX_AUTH_PORT:-8087}"
RW_INFLUX_AUTH_RPC_PORT="${ROAMWATCH_INFLUX_AUTH_RPC_PORT:-8089}"

# Bounded waits (seconds).
RW_START_TIMEOUT="${ROAMWATCH_START_TIMEOUT:-120}"
RW_STOP_TIMEOUT="${ROAMWATCH_STOP_TIMEOUT:-60}"

rw_log() { printf '[%s] %s\n' "${RW_COMPONENT:-servers}" "$*" >&2; }
rw_die() { rw_log "error: $*"; exit 1; }

# rw_apt_install PKG...: apt-get install, refreshing the package lists once when the
# install fails (they may be missing or stale on a fresh machine).
rw_apt_install() {
  [[ $(id -u) -eq 0 ]] || rw_die "install the Debian packages $* (needs root)"
  rw_log "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  # No package installed here may start a service (bird2 and frr would start their
  # daemons on the host): the project runs its own daemons, in namespaces. policy-rc.d
  # exit 101 = "action forbidden"; only a policy this function created is removed.
  local policy_created=0 rc=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  if ! apt-get install -y -q --no-install-recommends "$@"; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends "$@" || rc=$?
  fi
  if [[ $policy_created == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
  return "$rc"
}

# rw_need_cmd CMD DEBIAN_PACKAGE: install the package with apt when CMD is missing.
rw_need_cmd() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  rw_apt_install "$pkg"
  command -v "$cmd" >/dev/null 2>&1 || rw_die "$cmd still missing after installing $pkg"
}

# rw_port_open HOST PORT: true when something accepts TCP connections there.
rw_port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# rw_pid_alive PIDFILE PATTERN: true when the pid file names a live process whose
# command line contains PATTERN (guards against a recycled pid).
rw_pid_alive() {
  local pidfile=$1 pattern=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

# rw_stop_pid PIDFILE PATTERN NAME: TERM the process from the pid file (only that
# pid), wait up to RW_STOP_TIMEOUT, then KILL it. Removes the pid file.
rw_stop_pid() {
  local pidfile=$1 pattern=$2 name=$3 pid i
  if ! rw_pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    rw_log "$name is not running"
    return 0
  fi
  pid=$(<"$pidfile")
  rw_log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < RW_STOP_TIMEOUT * 5; i++)); do
    rw_pid_alive "$pidfile" "$pattern" || break
    sleep 0.2
  done
  if rw_pid_alive "$pidfile" "$pattern"; then
    rw_log "$name did not stop within ${RW_STOP_TIMEOUT}s; killing pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  rw_log "$name stopped"
}

# rw_fail_start NAME LOGFILE MESSAGE: print the message and the log tail, exit 1.
rw_fail_start() {
  local name=$1 logfile=$2 msg=$3
  rw_log "error: $name $msg"
  if [[ -f $logfile ]]; then
    rw_log "last 40 lines of $logfile:"
    tail -n 40 "$logfile" >&2 || true
  fi
  exit 1
}

# rw_rotate_log FILE: keep the previous run's log as FILE.1.
rw_rotate_log() {
  [[ -f $1 ]] && mv -f "$1" "$1.1"
  : >"$1"
}
