#!/usr/bin/env bash
# `npm run package`: the installable artifacts for gateways (docs/install.md):
#   roamwatch_VERSION_amd64.deb          Debian 12 package (dpkg-deb --build)
#   roamwatch-VERSION-linux-x64.tar.gz   the same files for a manual install (/opt or anywhere)
# Both hold the agent and CLI bundled into one file (scripts/package/bundle.mjs, esbuild), the
# pinned Node.js 24 LTS runtime (scripts/node.sh, cached), the rtnl-pipe helper compiled by
# `npm run build`, the systemd unit and /etc/roamwatch/agent.yaml (a conffile). No network
# beyond what scripts/node.sh cached (it downloads the runtime once).
#
# Usage: bash scripts/package.sh [OUTDIR]   (default: build/package, ignored by git;
#        or ROAMWATCH_PACKAGE_OUT). Prints the two paths.
set -euo pipefail
RW_COMPONENT=${RW_COMPONENT:-package}
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RW_REPO_ROOT"

out="${1:-${ROAMWATCH_PACKAGE_OUT:-$RW_REPO_ROOT/build/package}}"
mkdir -p "$out"
out=$(readlink -f "$out")
version=$(node -p 'require("./cli/package.json").version')
node_bin=$(bash scripts/node.sh binary)
node_home=$(dirname "$(dirname "$node_bin")")

rw_log "building roamwatch $version (npm run build)"
npm run build --silent >/dev/null
[[ -x agent/native/build/rtnl-pipe ]] || rw_die "agent/native/build/rtnl-pipe missing after the build"

stage="$out/stage"
rm -rf "$stage"
root="$stage/deb"
lib="$root/usr/lib/roamwatch"
mkdir -p "$lib" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/roamwatch" "$root/usr/share/doc/roamwatch" "$root/DEBIAN"

rw_log "bundling the CLI (esbuild)"
"$node_bin" scripts/package/bundle.mjs "$lib/roamwatch.mjs"
install -m 0755 "$node_bin" "$lib/node"
install -m 0755 agent/native/build/rtnl-pipe "$lib/rtnl-pipe"
install -m 0755 deploy/debian/roamwatch.sh "$root/usr/bin/roamwatch"
install -m 0644 deploy/roamwatch-agent.service "$root/lib/systemd/system/roamwatch-agent.service"
install -m 0640 deploy/roamwatch-agent.example.yaml "$root/etc/roamwatch/agent.yaml"
doc="$root/usr/share/doc/roamwatch"
install -m 0644 docs/install.md docs/agent.md docs/runbook.md docs/security.md "$doc/"
install -m 0644 deploy/debian/strongswan-vici-group.conf "$doc/"
install -m 0644 "$node_home/LICENSE" "$doc/LICENSE.node"
{
  echo "roamwatch $version: Apache-2.0 (see the project's LICENSE)."
  echo "Bundled JavaScript dependencies: their licenses are listed at the end of /usr/lib/roamwatch/roamwatch.mjs."
  echo "Node.js $("$node_bin" -p process.versions.node): MIT and others, see LICENSE.node."
} >"$doc/copyright"
chmod 0644 "$doc/copyright"

# Maintainer scripts and control file.
for f in postinst prerm postrm; do install -m 0755 "deploy/debian/$f" "$root/DEBIAN/$f"; done
install -m 0644 deploy/debian/conffiles "$root/DEBIAN/conffiles"
size_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size_kb/" deploy/debian/control.in >"$root/DEBIAN/control"

deb="$out/roamwatch_${version}_amd64.deb"
rw_log "dpkg-deb --build"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null

# The tarball: the same files under roamwatch-VERSION/ (bin/, lib/roamwatch/, etc/, share/).
tdir="$stage/roamwatch-$version"
mkdir -p "$tdir/bin" "$tdir/lib" "$tdir/etc/roamwatch" "$tdir/share/systemd" "$tdir/share/doc"
cp -a "$lib" "$tdir/lib/roamwatch"
cp -a "$root/usr/bin/roamwatch" "$tdir/bin/roamwatch"
cp -a "$root/etc/roamwatch/agent.yaml" "$tdir/etc/roamwatch/agent.yaml"
cp -a "$root/lib/systemd/system/roamwatch-agent.service" "$tdir/share/systemd/"
cp -a "$doc" "$tdir/share/doc/roamwatch"
tarball="$out/roamwatch-$version-linux-x64.tar.gz"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$tarball" "roamwatch-$version"

rm -rf "$stage"
echo "$deb"
echo "$tarball"
