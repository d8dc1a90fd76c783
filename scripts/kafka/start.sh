#!/usr/bin/env bash
# Starts the single-node KRaft Kafka broker in the background, unless it already
# runs. Formats the storage on first start. Waits (bounded) until the broker answers
# a metadata request; on failure prints the log tail and exits 1.
#
# Then creates the SCRAM users and ACLs of the SASL_SSL listener (Secure.java, acls.txt).
#
# State: $ROAMWATCH_STATE/kafka/{data,server.properties,kafka.log,kafka.pid,cluster-id}
#   tls/ca.pem, tls/ca.key, tls/broker.pem    CA and broker certificate (tls.sh), made once
#   secrets/<user>.password                   SCRAM passwords (0600), made once
# Usage: bash scripts/kafka/start.sh
set -euo pipefail
RW_COMPONENT=kafka
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

here="$RW_REPO_ROOT/scripts/kafka"
libs="$RW_KAFKA_HOME/libs"
pidfile="$RW_KAFKA_STATE/kafka.pid"
logfile="$RW_KAFKA_STATE/kafka.log"
props="$RW_KAFKA_STATE/server.properties"
datadir="$RW_KAFKA_STATE/data"
bootstrap="$RW_KAFKA_HOST:$RW_KAFKA_PORT"

tool_opts=(-Xmx256m -Dlog4j.configuration="file:$here/log4j-tools.properties")
# SCRAM users and ACLs (idempotent): applied at every start, also to a running broker.
secure() {
  java "${tool_opts[@]}" -cp "$libs/*" "$here/Secure.java" "$bootstrap" "$RW_KAFKA_STATE/secrets" "$here/acls.txt" >&2
}

if rw_pid_alive "$pidfile" kafka.Kafka; then
  rw_log "already running (pid $(<"$pidfile")) on $bootstrap"
  if ! rw_port_open "$RW_KAFKA_HOST" "$RW_KAFKA_SASL_SSL_PORT"; then
    rw_die "the running broker has no SASL_SSL listener on $RW_KAFKA_HOST:$RW_KAFKA_SASL_SSL_PORT (started by an older start.sh?): bash scripts/servers.sh restart kafka"
  fi
  secure || rw_die "could not create the SCRAM users and ACLs"
  exit 0
fi
[[ -f $libs/kafka_2.13-$RW_KAFKA_VERSION.jar ]] ||
  rw_die "Kafka $RW_KAFKA_VERSION jars missing in $libs; run: bash scripts/servers.sh install"
command -v java >/dev/null || rw_die "java missing; run: bash scripts/servers.sh install"
for port in "$RW_KAFKA_PORT" "$RW_KAFKA_CONTROLLER_PORT" "$RW_KAFKA_SASL_SSL_PORT"; do
  if rw_port_open "$RW_KAFKA_HOST" "$port"; then
    rw_die "port $RW_KAFKA_HOST:$port is already in use by another process (not the broker of $pidfile)"
  fi
done

mkdir -p "$RW_KAFKA_STATE" "$datadir"
# TLS material and SCRAM passwords of the SASL_SSL listener, made once per state dir.
tlsdir="$RW_KAFKA_STATE/tls"
secrets="$RW_KAFKA_STATE/secrets"
if [[ ! -s $tlsdir/broker.pem ]]; then
  bash "$here/tls.sh" ca "$tlsdir"
  bash "$here/tls.sh" server "$tlsdir" "$RW_KAFKA_HOST" localhost
fi
(
  umask 077
  mkdir -p "$secrets"
  for user in roamwatch-agent roamwatch-processor; do
    [[ -s $secrets/$user.password ]] || openssl rand -hex 24 >"$secrets/$user.password"
  done
)
sed -e "s#@HOST@#$RW_KAFKA_HOST#g" \
  -e "s#@PORT@#$RW_KAFKA_PORT#g" \
  -e "s#@CONTROLLER_PORT@#$RW_KAFKA_CONTROLLER_PORT#g" \
  -e "s#@SASL_SSL_PORT@#$RW_KAFKA_SASL_SSL_PORT#g" \
  -e "s#@TLS_DIR@#$tlsdir#g" \
  -e "s#@LOG_DIR@#$datadir#g" \
  "$here/server.properties.template" >"$props"

# Format once: the storage keeps its cluster id across restarts.
if [[ ! -f $datadir/meta.properties ]]; then
  cluster_id=$(java "${tool_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool random-uuid)
  rw_log "formatting storage in $datadir (cluster id $cluster_id)"
  java "${tool_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$props" --ignore-formatted >/dev/null
  printf '%s\n' "$cluster_id" >"$RW_KAFKA_STATE/cluster-id"
fi

rw_rotate_log "$logfile"
# shellcheck disable=SC2086  # RW_KAFKA_HEAP holds several JVM options
setsid java $RW_KAFKA_HEAP \
  -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -Djava.awt.headless=true \
  -Dlog4j.configuration="file:$here/log4j.properties" \
  -Dkafka.logs.dir="$RW_KAFKA_STATE" \
  -cp "$libs/*" kafka.Kafka "$props" \
  </dev/null >>"$logfile" 2>&1 &
echo $! >"$pidfile"
pid=$(<"$pidfile")
rw_log "started pid $pid, log $logfile; waiting for $bootstrap"

start=$SECONDS
deadline=$((SECONDS + RW_START_TIMEOUT))
until rw_port_open "$RW_KAFKA_HOST" "$RW_KAFKA_PORT"; do
  # kill -0, not the command line: right after the fork the child may not have exec'd java yet.
  kill -0 "$pid" 2>/dev/null || rw_fail_start Kafka "$logfile" "exited during startup"
  ((SECONDS < deadline)) || rw_fail_start Kafka "$logfile" "did not listen on $bootstrap within ${RW_START_TIMEOUT}s"
  sleep 0.25
done
left=$((deadline - SECONDS))
((left > 5)) || left=5
if ! java "${tool_opts[@]}" -cp "$libs/*" "$here/Ready.java" "$bootstrap" "$left" >&2; then
  rw_fail_start Kafka "$logfile" "listens on $bootstrap but does not answer metadata requests"
fi
secure || rw_fail_start Kafka "$logfile" "could not create the SCRAM users and ACLs"
rw_log "ready on $bootstrap (SASL_SSL on $RW_KAFKA_HOST:$RW_KAFKA_SASL_SSL_PORT, CA $tlsdir/ca.pem) after $((SECONDS - start))s (pid $pid)"
