#!/usr/bin/env bash
# Starts influxd (InfluxDB 1.8, with Flux and the 2.x compatibility API) in the
# background, unless it already runs, waits (bounded) until /health passes, then
# creates the database (and retention policy) of ROAMWATCH_INFLUX_BUCKET.
#
# With ROAMWATCH_INFLUX_AUTH=true (the `influxdb-auth` server of scripts/servers.sh), HTTP
# authentication is on: the first start creates the admin user and the user `roamwatch` (write
# and read on the database), with random passwords in secrets/ (0600); the processor's token
# for the 2.x API is secrets/token ("roamwatch:<password>", the 1.8 form of a token).
#
# State: $ROAMWATCH_STATE/influxdb/{meta,data,wal,influxdb.conf,influxd.log,influxd.pid}
#   (ROAMWATCH_INFLUX_STATE overrides the directory), secrets/ with auth
# Usage: bash scripts/influxdb/start.sh
set -euo pipefail
RW_COMPONENT=influxdb
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

here="$RW_REPO_ROOT/scripts/influxdb"
bin="$RW_INFLUX_HOME/influxd"
pidfile="$RW_INFLUX_STATE/influxd.pid"
logfile="$RW_INFLUX_STATE/influxd.log"
conf="$RW_INFLUX_STATE/influxdb.conf"
url="http://$RW_INFLUX_HOST:$RW_INFLUX_PORT"

# Bucket "db/rp" (2.x name) → database db, retention policy rp (autogen when absent).
db=${RW_INFLUX_BUCKET%%/*}
rp=autogen
[[ $RW_INFLUX_BUCKET == */* ]] && rp=${RW_INFLUX_BUCKET#*/}
[[ -n $db && -n $rp && $db != *'"'* && $rp != *'"'* ]] ||
  rw_die "bad ROAMWATCH_INFLUX_BUCKET '$RW_INFLUX_BUCKET' (want database or database/retention-policy)"

secrets="$RW_INFLUX_STATE/secrets"
auth=()

# influxql POST /query; fails on an HTTP error or an "error" in the JSON answer.
influxql() {
  local out
  # The statement goes through stdin: a password in it never shows in curl's argv.
  out=$(printf '%s' "$1" | curl -sS --fail-with-body --max-time 10 "${auth[@]}" -XPOST "$url/query" --data-urlencode "q@-") ||
    rw_die "query failed: ${1%%PASSWORD*}: $out"
  if [[ $out == *'"error"'* ]]; then rw_die "query failed: ${1%%PASSWORD*}: $out"; fi
}

# With auth: the admin (created while no user exists, as InfluxDB 1.8 allows), then the
# roamwatch user; curl reads the admin credentials from a file (-K), never from argv.
ensure_users() {
  [[ $RW_INFLUX_AUTH == true ]] || return 0
  (
    umask 077
    mkdir -p "$secrets"
    for u in admin roamwatch; do
      [[ -s $secrets/$u.password ]] || openssl rand -hex 24 >"$secrets/$u.password"
    done
    printf 'user = "admin:%s"\n' "$(<"$secrets/admin.password")" >"$secrets/admin.curlrc"
    printf 'roamwatch:%s\n' "$(<"$secrets/roamwatch.password")" >"$secrets/token"
  )
  local users
  users=$(curl -sS --max-time 10 -K "$secrets/admin.curlrc" -XPOST "$url/query" --data-urlencode "q=SHOW USERS" || true)
  if [[ $users != *'"admin"'* ]]; then
    # No admin yet (first start): InfluxDB accepts this one statement without credentials.
    influxql "CREATE USER admin WITH PASSWORD '$(<"$secrets/admin.password")' WITH ALL PRIVILEGES"
  fi
  auth=(-K "$secrets/admin.curlrc")
  if [[ $users != *'"roamwatch"'* ]]; then
    influxql "CREATE USER roamwatch WITH PASSWORD '$(<"$secrets/roamwatch.password")'"
  fi
}

ensure_bucket() {
  ensure_users
  influxql "CREATE DATABASE \"$db\""
  if [[ $rp != autogen ]]; then
    influxql "CREATE RETENTION POLICY \"$rp\" ON \"$db\" DURATION INF REPLICATION 1"
  fi
  [[ $RW_INFLUX_AUTH == true ]] && influxql "GRANT ALL ON \"$db\" TO roamwatch"
  rw_log "bucket $db/$rp ready${RW_INFLUX_AUTH:+ (auth $RW_INFLUX_AUTH)}"
}

command -v curl >/dev/null || rw_die "curl missing; run: bash scripts/servers.sh install"

if rw_pid_alive "$pidfile" "$bin"; then
  rw_log "already running (pid $(<"$pidfile")) on $url"
  ensure_bucket
  exit 0
fi
[[ -x $bin ]] || rw_die "influxd $RW_INFLUX_VERSION missing at $bin; run: bash scripts/servers.sh install"
for port in "$RW_INFLUX_PORT" "$RW_INFLUX_RPC_PORT"; do
  if rw_port_open "$RW_INFLUX_HOST" "$port"; then
    rw_die "port $RW_INFLUX_HOST:$port is already in use by another process (not the influxd of $pidfile)"
  fi
done

mkdir -p "$RW_INFLUX_STATE"
sed -e "s#@STATE_DIR@#$RW_INFLUX_STATE#g" \
  -e "s#@HTTP_BIND@#$RW_INFLUX_HOST:$RW_INFLUX_PORT#g" \
  -e "s#@RPC_BIND@#$RW_INFLUX_HOST:$RW_INFLUX_RPC_PORT#g" \
  -e "s#@AUTH_ENABLED@#$RW_INFLUX_AUTH#g" \
  "$here/influxdb.conf.template" >"$conf"

rw_rotate_log "$logfile"
setsid "$bin" run -config "$conf" -pidfile "$RW_INFLUX_STATE/influxd.self.pid" \
  </dev/null >>"$logfile" 2>&1 &
echo $! >"$pidfile"
pid=$(<"$pidfile")
rw_log "started pid $pid, log $logfile; waiting for $url/health"

start=$SECONDS
deadline=$((SECONDS + RW_START_TIMEOUT))
until curl -sf --max-time 2 "$url/health" 2>/dev/null | grep -q '"status":"pass"'; do
  # kill -0, not the command line: right after the fork the child may not have exec'd influxd yet.
  kill -0 "$pid" 2>/dev/null || rw_fail_start InfluxDB "$logfile" "exited during startup"
  ((SECONDS < deadline)) || rw_fail_start InfluxDB "$logfile" "did not answer $url/health within ${RW_START_TIMEOUT}s"
  sleep 0.25
done
ensure_bucket
rw_log "ready on $url after $((SECONDS - start))s (pid $pid)"
