#!/usr/bin/env bash
# Builds influxd (InfluxDB OSS 1.8.3, pure Go) from the Go module proxy into
# $ROAMWATCH_CACHE/influxdb-<version>/influxd (outside the repository). Skips the
# build when that binary exists.
#
# Why 1.8: InfluxDB 1.8 serves the 2.x compatibility API that
# @influxdata/influxdb-client speaks (POST /api/v2/write, Flux on POST /api/v2/query,
# GET /health) and is pure Go; 1.9+ need the Rust-built libflux, and 2.x needs a
# JavaScript UI build and libflux too.
#
# How: module/ beside this script is a build-only Go module whose go.mod requires
# github.com/influxdata/influxdb v1.8.3 and whose go.sum pins every dependency.
# `go install github.com/influxdata/influxdb/cmd/influxd@v1.8.3` would work as well
# today, but the pinned module keeps the dependency set fixed and checksummed.
# Built with the machine's Go toolchain (Go 1.26 here); no extra flags are needed
# (no -checklinkname=0: none of 1.8.3's dependencies link to runtime internals).
# Cold build: about 2 minutes on 2 cores, plus the module downloads.
#
# Usage: bash scripts/influxdb/install.sh
set -euo pipefail
RW_COMPONENT=influxdb
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

module="$RW_REPO_ROOT/scripts/influxdb/module"
bin="$RW_INFLUX_HOME/influxd"

if [[ -x $bin ]]; then
  rw_log "influxd $RW_INFLUX_VERSION present: $bin"
  exit 0
fi
pinned=$(sed -n 's#^require github.com/influxdata/influxdb v\(.*\)$#\1#p' "$module/go.mod")
[[ $pinned == "$RW_INFLUX_VERSION" ]] ||
  rw_die "ROAMWATCH_INFLUX_VERSION=$RW_INFLUX_VERSION but $module/go.mod pins v$pinned; update the module (go get + go mod tidy) first"

# The machine's Go toolchain usually lives in /usr/local/go; Debian's golang-go is the
# fallback (the module asks for go 1.19 at least, so Debian 12's 1.19 builds it too).
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
rw_need_cmd go golang-go

rw_log "building influxd $RW_INFLUX_VERSION with $(go version) into $bin"
mkdir -p "$RW_INFLUX_HOME"
# GOTOOLCHAIN=local: build with the installed toolchain, never fetch another one.
# -mod=readonly: go.sum must already hold every checksum.
# CGO_ENABLED=0: a static binary, no C toolchain needed.
# -trimpath and -buildvcs=false: no paths or VCS data from this checkout in the binary.
# GOPATH/GOCACHE: module and build caches under the cache dir.
(
  cd "$module"
  GOPATH="$RW_GOPATH" GOMODCACHE="$RW_GOPATH/pkg/mod" GOCACHE="$RW_GOPATH/cache" \
    GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly \
    go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X main.version=$RW_INFLUX_VERSION -X main.branch=1.8 -X main.commit=v$RW_INFLUX_VERSION" \
    -o "$bin.tmp" github.com/influxdata/influxdb/cmd/influxd
)
mv -f "$bin.tmp" "$bin"
rw_log "built: $("$bin" version)"
