#!/usr/bin/env bash
# Resolves the Apache Kafka broker jars from Maven Central into
# $ROAMWATCH_CACHE/kafka-<version>/libs (outside the repository), with the POM
# beside this script. Skips the download when the jars are already there.
#
# Usage: bash scripts/kafka/install.sh
set -euo pipefail
RW_COMPONENT=kafka
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

here="$RW_REPO_ROOT/scripts/kafka"
libs="$RW_KAFKA_HOME/libs"
marker="$RW_KAFKA_HOME/.complete"

if [[ -f $marker ]] && compgen -G "$libs/kafka_2.13-$RW_KAFKA_VERSION.jar" >/dev/null; then
  rw_log "Kafka $RW_KAFKA_VERSION jars present in $libs"
  exit 0
fi

# Ready.java runs with the single-file source launcher, which needs the JDK compiler.
rw_need_cmd java openjdk-17-jdk-headless
rw_need_cmd javac openjdk-17-jdk-headless
rw_need_cmd mvn maven

rw_log "resolving Kafka $RW_KAFKA_VERSION jars into $libs"
tmp="$RW_KAFKA_HOME/libs.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
# -B: batch mode (no prompts). The local repository is under the cache dir;
# dependency:copy-dependencies copies the broker's runtime closure. Maven's output
# goes to a log file, shown when it fails.
mvnlog="$RW_KAFKA_HOME/mvn.log"
if ! mvn -B -Dstyle.color=never -f "$here/pom.xml" \
  -Dmaven.repo.local="$RW_M2_REPO" \
  -Dkafka.version="$RW_KAFKA_VERSION" \
  dependency:copy-dependencies \
  -DoutputDirectory="$tmp" \
  -DincludeScope=runtime >"$mvnlog" 2>&1; then
  tail -n 40 "$mvnlog" >&2
  rw_die "mvn dependency:copy-dependencies failed (full log: $mvnlog)"
fi
[[ -f $tmp/kafka_2.13-$RW_KAFKA_VERSION.jar ]] || rw_die "kafka_2.13-$RW_KAFKA_VERSION.jar was not resolved"
rm -rf "$libs"
mv "$tmp" "$libs"
date -u +%FT%TZ >"$marker"
rw_log "Kafka $RW_KAFKA_VERSION: $(find "$libs" -name '*.jar' | wc -l) jars in $libs"
