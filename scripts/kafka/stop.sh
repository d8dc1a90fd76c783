#!/usr/bin/env bash
# Stops the test broker started by scripts/kafka/start.sh: signals the pid in its
# pid file only (TERM, then KILL after ROAMWATCH_STOP_TIMEOUT seconds).
#
# Usage: bash scripts/kafka/stop.sh
set -euo pipefail
RW_COMPONENT=kafka
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

rw_stop_pid "$RW_KAFKA_STATE/kafka.pid" kafka.Kafka Kafka
