#!/usr/bin/env bash
# Stops the influxd started by scripts/influxdb/start.sh: signals the pid in its pid
# file only (TERM, then KILL after ROAMWATCH_STOP_TIMEOUT seconds).
#
# Usage: bash scripts/influxdb/stop.sh
set -euo pipefail
RW_COMPONENT=influxdb
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

rw_stop_pid "$RW_INFLUX_STATE/influxd.pid" "$RW_INFLUX_HOME/influxd" InfluxDB
