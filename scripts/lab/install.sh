#!/usr/bin/env bash
# Installs what the strongSwan lab (test/lab/) needs: charon 5.9.8 + swanctl from
# Debian, the kernel-libipsec plugin (userspace ESP over /dev/net/tun), every command
# of the groups base and lab in scripts/commands.txt (ip, unshare, mount, sysctl, ping …)
# that is missing, and a second charon (strongSwan 6.0.6) built from source beside it by
# scripts/lab/strongswan-build.sh (cached under $ROAMWATCH_CACHE/strongswan; set
# ROAMWATCH_LAB_SKIP_BUILD=1 to skip it). Idempotent; returns in about a second when all
# is there.
#
# The lab runs its own charon processes, one per network namespace, each with its own
# strongswan.conf, vici socket and private /run. A system-wide charon (a distribution
# service) must not run beside them: this script makes sure none is enabled or running.
#
# Usage: bash scripts/lab/install.sh        (as root)
set -euo pipefail

PKGS=(
  strongswan-charon
  strongswan-swanctl
  libcharon-extra-plugins
  libstrongswan-standard-plugins
  libstrongswan-extra-plugins
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install.sh: must run as root (apt-get, network namespaces)" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep maintainer scripts from starting any service while installing.
  # (/usr/sbin/policy-rc.d is honoured by invoke-rc.d and deb-systemd-invoke.)
  policy_created=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  cleanup_policy() { if [[ $policy_created == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup_policy EXIT
  # Package lists may be missing or stale on a fresh machine.
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  cleanup_policy
  trap - EXIT
fi

# No distribution-managed charon: disable and stop the units if they exist.
for unit in strongswan.service strongswan-starter.service ipsec.service; do
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  elif command -v systemctl >/dev/null 2>&1; then
    systemctl disable "$unit" >/dev/null 2>&1 || true
  fi
done
# A charon started outside the lab (its pid file is the hard-coded /var/run/charon.pid)
# would compete for nothing in the lab's namespaces, but it points to a system setup
# the lab does not expect: report it, do not kill what we did not start.
if [[ -s /var/run/charon.pid ]] && kill -0 "$(cat /var/run/charon.pid)" 2>/dev/null; then
  echo "install.sh: warning: a system charon runs (pid $(cat /var/run/charon.pid)); the lab does not use it" >&2
fi

# The lab's commands (scripts/commands.txt, groups base and lab): install the packages of
# those missing, then check that all are there.
RW_COMPONENT=lab bash "$(dirname "${BASH_SOURCE[0]}")/../commands.sh" install base lab
[[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ]] || {
  echo "install.sh: kernel-libipsec plugin missing" >&2; exit 1; }
[[ -c /dev/net/tun ]] || echo "install.sh: warning: /dev/net/tun missing; kernel-libipsec cannot create its TUN device" >&2

# The lab's version matrix (docs/lab.md): strongSwan 6.0.x from source, beside 5.9.8.
if [[ ${ROAMWATCH_LAB_SKIP_BUILD:-0} != 1 ]]; then
  bash "$(dirname "${BASH_SOURCE[0]}")/strongswan-build.sh"
fi

echo "install.sh: strongSwan lab prerequisites present ($(/usr/lib/ipsec/charon --version 2>/dev/null || dpkg-query -W -f='${Version}' strongswan-charon))"
