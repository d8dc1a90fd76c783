#!/bin/bash
# One-shot setup of the compose stack's Kafka (service `kafka-init`, in the kafka container's
# network namespace): SCRAM users from the compose secrets and the least-privilege ACLs of
# docs/security.md, through the broker's LOCAL listener, which listens on the container's
# loopback only and whose anonymous principal is the super user. Idempotent: every start
# re-applies the users (a changed secret rotates the password) and the ACLs.
set -euo pipefail
bin=/opt/kafka/bin
bootstrap=127.0.0.1:9095
tmp=$(mktemp -d /dev/shm/kafka-init.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for ((i = 0; i < 60; i++)); do
  "$bin/kafka-broker-api-versions.sh" --bootstrap-server "$bootstrap" >/dev/null 2>&1 && break
  sleep 2
done
for user in roamwatch-agent roamwatch-processor; do
  secret=/run/secrets/kafka_${user#roamwatch-}_password
  # The password goes through a 0600 file, not the command line.
  (umask 077; printf 'SCRAM-SHA-512=[password=%s]\n' "$(<"$secret")" >"$tmp/$user.properties")
  "$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --alter --entity-type users --entity-name "$user" --add-config-file "$tmp/$user.properties"
done
acl() { "$bin/kafka-acls.sh" --bootstrap-server "$bootstrap" --add --allow-principal "$@" >/dev/null; }
events=${ROAMWATCH_KAFKA_TOPIC:-roamwatch.events}
# Agents: append to the events topic, nothing else.
acl User:roamwatch-agent --topic "$events" --operation Write --operation Describe
# Processor: read the events in its group, publish findings and dead letters.
acl User:roamwatch-processor --topic "$events" --operation Read --operation Describe
acl User:roamwatch-processor --group roamwatch-processor --operation Read
acl User:roamwatch-processor --group roamwatch-processor.incidents --operation Read
acl User:roamwatch-processor --topic roamwatch.findings --operation Read --operation Write --operation Describe --operation Create
acl User:roamwatch-processor --topic "$events.dead-letter" --operation Write --operation Describe --operation Create
# Its checkpoint topic (scale-out: the state that moves with a partition) and the reader groups of it.
acl User:roamwatch-processor --topic roamwatch-processor.checkpoints --operation Read --operation Write --operation Describe --operation Create
acl User:roamwatch-processor --group roamwatch-processor.checkpoints. --resource-pattern-type prefixed --operation Read
acl User:roamwatch-processor --group roamwatch-replay- --resource-pattern-type prefixed --operation Read
# The events topic itself, with the partitions the processor scales to.
"$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$events" --partitions "${ROAMWATCH_KAFKA_PARTITIONS:-12}" >/dev/null
echo "kafka-init: SCRAM users and ACLs in place"
