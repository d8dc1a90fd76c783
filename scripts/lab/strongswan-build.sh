#!/usr/bin/env bash
# Builds a strongSwan charon from source for the lab, beside Debian's packaged one, so
# that every lab test can run on several charon versions (docs/lab.md, "charon builds").
# The build is cached outside the repository under
#
#   $ROAMWATCH_CACHE/strongswan/<version>-<key>/      (key = tarball SHA-256 + configure flags)
#   $ROAMWATCH_CACHE/strongswan/<major.minor> -> <version>-<key>   (what the lab resolves)
#
# and is redone only when the tarball or the flags change. Idempotent: ~0 s when built.
#
# Usage: bash scripts/lab/strongswan-build.sh [--print-prefix]     (as root for the apt step)
#
# Source (first that applies):
#   ROAMWATCH_STRONGSWAN_SOURCE   a local path or an http(s) URL of a strongSwan source
#                                 tarball: strongSwan's official release tarball
#                                 (https://download.strongswan.org/strongswan-X.Y.Z.tar.bz2)
#                                 or a `git archive` of a tag (then ./autogen.sh runs first)
#   ROAMWATCH_STRONGSWAN_SHA256   its SHA-256; required for a URL. For a local file it is
#                                 taken from a SHA256SUMS file beside it when not given.
#   default                       strongswan-$ROAMWATCH_STRONGSWAN_VERSION-git.tar.gz, looked up in
#                                 $ROAMWATCH_CACHE/vendor/ and in shared/vendor/ beside the checkout
#                                 (how an offline build host hands the tarball to checkouts),
#                                 verified against the SHA256SUMS beside it. A verified tarball
#                                 is copied to $ROAMWATCH_CACHE/vendor/; with no tarball at all
#                                 but a complete cached build of the version, that build is used.
#   ROAMWATCH_STRONGSWAN_VERSION  version to expect in the tarball (default 6.0.6)
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
RW_COMPONENT=strongswan

print_prefix=0
for a in "$@"; do
  case $a in
    --print-prefix) print_prefix=1 ;;
    -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) rw_die "unknown argument '$a' (usage: strongswan-build.sh [--print-prefix])" ;;
  esac
done

version="${ROAMWATCH_STRONGSWAN_VERSION:-6.0.6}"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || rw_die "ROAMWATCH_STRONGSWAN_VERSION must look like 6.0.6, not '$version'"
series="${version%.*}"
root="$RW_CACHE/strongswan"

# What the lab needs (docs/lab.md): IKEv2 and IKEv1 (--disable-defaults turns both off:
# without --enable-ikev2 charon logs "IKE version 2 not supported"), swanctl + vici,
# kernel-netlink, userspace ESP (kernel-libipsec over /dev/net/tun), openssl for all
# crypto, hostname resolution of local_addrs (done by libstrongswan's host resolver, no
# plugin). gmp is off: openssl covers it.
CONFIGURE_FLAGS=(
  --disable-defaults
  --enable-charon --enable-ikev1 --enable-ikev2 --enable-swanctl --enable-vici
  --enable-kernel-netlink --enable-kernel-libipsec --enable-libipsec --enable-socket-default
  --enable-openssl --enable-nonce --enable-random --enable-kdf
  --enable-pem --enable-pkcs1 --enable-x509 --enable-pubkey --enable-constraints --enable-revocation
  --enable-resolve --enable-updown
  --disable-gmp
)
BUILD_PKGS=(autoconf automake libtool pkg-config gperf bison flex libssl-dev make gcc libc6-dev)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# sums_lookup DIR NAME: the SHA-256 listed for NAME in DIR/SHA256SUMS (empty if none).
sums_lookup() {
  [[ -f $1/SHA256SUMS ]] || return 0
  awk -v n="$2" '{ f = $2; sub(/^\*/, "", f); if (f == n) { print $1; exit } }' "$1/SHA256SUMS"
}

# --- find and verify the source tarball ------------------------------------------
source_spec="${ROAMWATCH_STRONGSWAN_SOURCE:-}"
want_sha="${ROAMWATCH_STRONGSWAN_SHA256:-}"
if [[ -z $source_spec ]]; then
  name="strongswan-$version-git.tar.gz"
  for d in "$RW_CACHE/vendor" "$RW_REPO_ROOT/../shared/vendor"; do
    if [[ -f $d/$name ]]; then source_spec="$(cd "$d" && pwd)/$name"; break; fi
  done
  if [[ -z $source_spec ]]; then
    # No tarball to verify, but a complete build of this version is cached: use it.
    if [[ -f $root/$series/.complete ]] && grep -qx "version=$version" "$root/$series/.complete"; then
      rw_log "strongSwan $version: no source tarball found, using the cached build $(readlink -f "$root/$series")"
      ((print_prefix)) && readlink -f "$root/$series"
      exit 0
    fi
    rw_die "no strongSwan $version source: put $name (+ SHA256SUMS) into $RW_CACHE/vendor/, or set ROAMWATCH_STRONGSWAN_SOURCE=https://download.strongswan.org/strongswan-$version.tar.bz2 and ROAMWATCH_STRONGSWAN_SHA256=<its checksum from strongswan.org>"
  fi
fi

mkdir -p "$root"
if [[ $source_spec =~ ^https?:// ]]; then
  [[ -n $want_sha ]] || rw_die "ROAMWATCH_STRONGSWAN_SHA256 is required with a URL ($source_spec)"
  tarball="$root/downloads/$(basename "${source_spec%%\?*}")"
  if [[ ! -f $tarball || $(sha256_of "$tarball") != "$want_sha" ]]; then
    rw_need_cmd curl curl
    mkdir -p "$root/downloads"
    rw_log "downloading $source_spec"
    curl -fsSL --retry 3 -o "$tarball.part" "$source_spec"
    mv -f "$tarball.part" "$tarball"
  fi
else
  tarball=$source_spec
  [[ -f $tarball ]] || rw_die "ROAMWATCH_STRONGSWAN_SOURCE: no such file: $tarball"
  [[ -n $want_sha ]] || want_sha=$(sums_lookup "$(dirname "$tarball")" "$(basename "$tarball")")
  [[ -n $want_sha ]] || rw_die "no checksum for $tarball: set ROAMWATCH_STRONGSWAN_SHA256 or put a SHA256SUMS beside it"
fi
have_sha=$(sha256_of "$tarball")
[[ $have_sha == "$want_sha" ]] || rw_die "checksum mismatch for $tarball: expected $want_sha, got $have_sha"
# Keep the verified tarball in the cache's vendor dir, where later checkouts look first.
vendor="$RW_CACHE/vendor"
if [[ $(dirname "$(readlink -f "$tarball")") != "$(readlink -f "$vendor" 2>/dev/null || echo "$vendor")" ]]; then
  mkdir -p "$vendor"
  cp -f "$tarball" "$vendor/$(basename "$tarball")"
  { [[ -f $vendor/SHA256SUMS ]] && grep -v "  $(basename "$tarball")\$" "$vendor/SHA256SUMS"; echo "$have_sha  $(basename "$tarball")"; } >"$vendor/SHA256SUMS.new" || true
  mv -f "$vendor/SHA256SUMS.new" "$vendor/SHA256SUMS"
fi

# --- cache key and the fast path ---------------------------------------------------
flags_sha=$(printf '%s\n' "${CONFIGURE_FLAGS[@]}" | sha256sum | cut -c1-12)
key="${have_sha:0:12}-$flags_sha"
prefix="$root/$version-$key"
link="$root/$series"

if [[ -f $prefix/.complete && -x $prefix/libexec/ipsec/charon && -x $prefix/sbin/swanctl ]]; then
  ln -sfn "$(basename "$prefix")" "$link"
  rw_log "strongSwan $version present: $prefix (-> $link)"
  ((print_prefix)) && echo "$prefix"
  exit 0
fi

# --- build -----------------------------------------------------------------------------
missing=()
for p in "${BUILD_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) || rw_apt_install "${missing[@]}"

# One build at a time (parallel installs of several checkouts share the cache).
exec 9>"$root/.build.lock"
flock 9
if [[ -f $prefix/.complete ]]; then
  ln -sfn "$(basename "$prefix")" "$link"
  ((print_prefix)) && echo "$prefix"
  exit 0
fi

work="$root/build-$key"
rm -rf "$work" "$prefix"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
t0=$SECONDS
rw_log "building strongSwan $version from $tarball (log: $work/build.log, kept as $prefix/build.log)"
tar -xf "$tarball" -C "$work" --strip-components=1
log="$work/build.log"
(
  cd "$work"
  # A git archive has no configure script: generate it (the release tarball ships one).
  if [[ ! -x configure ]]; then ./autogen.sh; fi
  ./configure --prefix="$prefix" "${CONFIGURE_FLAGS[@]}"
  make -j"$(nproc)"
  make install
) >"$log" 2>&1 || {
  rw_log "build failed; last 40 lines of $log:"
  tail -n 40 "$log" >&2
  trap - EXIT
  exit 1
}
got=$("$prefix/libexec/ipsec/charon" --version 2>/dev/null || true)
cp "$log" "$prefix/build.log"
{
  echo "version=$version"
  echo "tarball=$(basename "$tarball")"
  echo "sha256=$have_sha"
  echo "configure=${CONFIGURE_FLAGS[*]}"
  echo "built=$(date -u +%FT%TZ) in $((SECONDS - t0))s"
} >"$prefix/.complete"
ln -sfn "$(basename "$prefix")" "$link"
rw_log "built strongSwan $version in $((SECONDS - t0)) s: $prefix (-> $link); charon --version: ${got:-?}"
((print_prefix)) && echo "$prefix"
exit 0
