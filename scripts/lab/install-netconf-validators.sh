#!/usr/bin/env bash
# Installs the validators that test `roamwatch doctor --persist` snippets against each
# network configuration system's own parser (test/integration/persist-validators.test.ts):
#   netplan.io (netplan generate), ifupdown (ifquery), bird2 (bird -p), frr (vtysh -C).
# No service is started: policy-rc.d denies it while installing (the bird and frr
# daemons are never run by these tests; only their config parsers are).
# Idempotent. Usage: bash scripts/lab/install-netconf-validators.sh   (as root)
set -euo pipefail

PKGS=(netplan.io ifupdown bird2 frr)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-netconf-validators.sh: must run as root (apt-get)" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "install-netconf-validators.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  policy_created=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  cleanup_policy() { if [[ $policy_created == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup_policy EXIT
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  cleanup_policy
  trap - EXIT
fi
for bin in /usr/sbin/netplan /usr/sbin/ifquery /usr/sbin/bird /usr/bin/vtysh; do
  [[ -x $bin ]] || { echo "install-netconf-validators.sh: $bin missing after install" >&2; exit 1; }
done
