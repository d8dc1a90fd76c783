#!/usr/bin/env bash
# The real servers of the integration tests: Apache Kafka (KRaft, single node) and
# InfluxDB 1.8 (Flux + 2.x compatibility API), and a second InfluxDB with authentication on
# (influxdb-auth, port 8087) for the security tests. See docs/testing.md, docs/security.md.
#
# Usage: bash scripts/servers.sh install|start|stop|restart|status|reset [kafka|influxdb|influxdb-auth ...]
#   install  apt packages for the tests (strongSwan lab via scripts/lab/install.sh, the
#            commands of scripts/commands.txt), Kafka jars from Maven Central, influxd
#            built from the Go module proxy; then checks every listed command is there.
#            Downloads and builds go to $ROAMWATCH_CACHE (default /var/cache/roamwatch).
#   start    start the servers that are not running (in parallel); wait until they answer.
#   stop     stop the servers started by `start` (by pid file only).
#   status   print each server's state; exit 0 only when all named servers run.
#   reset    stop the servers and delete their data ($ROAMWATCH_STATE).
# Without server names, a command applies to all of them. Every command is idempotent.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_SERVERS=(kafka influxdb influxdb-auth)
scripts="$RW_REPO_ROOT/scripts"

usage() {
  sed -n '6,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift
servers=("$@")
((${#servers[@]} > 0)) || servers=("${ALL_SERVERS[@]}")
for s in "${servers[@]}"; do
  case $s in kafka | influxdb | influxdb-auth) ;; *) rw_die "unknown server '$s' (known: ${ALL_SERVERS[*]})" ;; esac
done

# server_script SERVER ACTION: runs scripts/<server>/<action>.sh; influxdb-auth is the
# influxdb scripts with authentication on, its own ports and state dir.
server_script() {
  local s=$1 action=$2
  if [[ $s == influxdb-auth ]]; then
    ROAMWATCH_INFLUX_AUTH=true ROAMWATCH_INFLUX_PORT=$RW_INFLUX_AUTH_PORT ROAMWATCH_INFLUX_RPC_PORT=$RW_INFLUX_AUTH_RPC_PORT \
      ROAMWATCH_INFLUX_STATE=$RW_STATE/influxdb-auth RW_COMPONENT=influxdb-auth bash "$scripts/influxdb/$action.sh"
  else
    bash "$scripts/$s/$action.sh"
  fi
}

status_one() {
  local s=$1
  case $s in
    kafka)
      if rw_pid_alive "$RW_KAFKA_STATE/kafka.pid" kafka.Kafka; then
        echo "kafka     running  pid $(<"$RW_KAFKA_STATE/kafka.pid")  $RW_KAFKA_HOST:$RW_KAFKA_PORT  (Kafka $RW_KAFKA_VERSION, KRaft; SASL_SSL on $RW_KAFKA_HOST:$RW_KAFKA_SASL_SSL_PORT)"
      else
        echo "kafka     stopped  $RW_KAFKA_HOST:$RW_KAFKA_PORT  (start: bash scripts/servers.sh start kafka)"
        return 1
      fi
      ;;
    influxdb)
      if rw_pid_alive "$RW_INFLUX_STATE/influxd.pid" "$RW_INFLUX_HOME/influxd"; then
        echo "influxdb  running  pid $(<"$RW_INFLUX_STATE/influxd.pid")  http://$RW_INFLUX_HOST:$RW_INFLUX_PORT  (InfluxDB $RW_INFLUX_VERSION, bucket $RW_INFLUX_BUCKET)"
      else
        echo "influxdb  stopped  http://$RW_INFLUX_HOST:$RW_INFLUX_PORT  (start: bash scripts/servers.sh start influxdb)"
        return 1
      fi
      ;;
    influxdb-auth)
      if rw_pid_alive "$RW_STATE/influxdb-auth/influxd.pid" "$RW_INFLUX_HOME/influxd"; then
        echo "influxdb-auth running  pid $(<"$RW_STATE/influxdb-auth/influxd.pid")  http://$RW_INFLUX_HOST:$RW_INFLUX_AUTH_PORT  (authentication on; token in $RW_STATE/influxdb-auth/secrets/token)"
      else
        echo "influxdb-auth stopped  http://$RW_INFLUX_HOST:$RW_INFLUX_AUTH_PORT  (start: bash scripts/servers.sh start influxdb-auth)"
        return 1
      fi
      ;;
  esac
}

install_apt() {
  # The strongSwan lab's packages come from its own script when it is there.
  if [[ -f $scripts/lab/install.sh ]]; then
    RW_COMPONENT=lab rw_log "running scripts/lab/install.sh"
    bash "$scripts/lab/install.sh"
  fi
  # The commands of the build (the agent's rtnetlink helper, agent/native/rtnl-pipe.c),
  # the server scripts (openssl: certificates of the test broker's SASL_SSL listener and
  # the secrets of the test servers), the benchmarks and the package build and its test
  # (dpkg-deb, systemd-analyze; scripts/commands.txt).
  bash "$scripts/commands.sh" install build servers bench package
  [[ -e /usr/include/linux/rtnetlink.h && -e /usr/include/stdio.h ]] || rw_apt_install libc6-dev linux-libc-dev
}

case $cmd in
  install)
    install_apt
    for s in "${servers[@]}"; do [[ $s == influxdb-auth ]] || bash "$scripts/$s/install.sh"; done
    # Last: every external command the scripts, tests, demo and benchmarks run is there.
    bash "$scripts/commands.sh" check
    ;;
  start)
    # The servers start in parallel (each waits for its own readiness); the command
    # fails when any of them fails, after all have finished.
    pids=()
    for s in "${servers[@]}"; do
      server_script "$s" start &
      pids+=($!)
    done
    rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    exit "$rc"
    ;;
  stop)
    # Reverse order of start.
    for ((i = ${#servers[@]} - 1; i >= 0; i--)); do server_script "${servers[i]}" stop; done
    ;;
  restart)
    for ((i = ${#servers[@]} - 1; i >= 0; i--)); do server_script "${servers[i]}" stop; done
    for s in "${servers[@]}"; do server_script "$s" start; done
    ;;
  status)
    rc=0
    for s in "${servers[@]}"; do status_one "$s" || rc=3; done
    exit "$rc"
    ;;
  reset)
    for ((i = ${#servers[@]} - 1; i >= 0; i--)); do
      s=${servers[i]}
      server_script "$s" stop
      case $s in
        kafka) dir=$RW_KAFKA_STATE ;;
        influxdb) dir=$RW_INFLUX_STATE ;;
        influxdb-auth) dir=$RW_STATE/influxdb-auth ;;
      esac
      rw_log "deleting $dir"
      rm -rf -- "$dir"
    done
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
