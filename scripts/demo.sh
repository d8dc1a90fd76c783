#!/usr/bin/env bash
# roamwatch demo: one command on a fresh Debian 12 machine, as root.
# Installs what it needs (strongSwan packages, npm dependencies, the build), then runs
# scripts/demo.mjs: a two-namespace strongSwan lab, `roamwatch watch` against it, unrelated
# route changes that make charon reauthenticate, `roamwatch doctor` and `doctor --apply`, the calm
# after it, and teardown. It never touches the host's own interfaces or routes: everything
# happens inside the lab's network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "roamwatch demo: must run as root (it creates network namespaces and runs charon): sudo npm run demo" >&2
  exit 2
fi
for ns in rwlab-demo-gw rwlab-demo-peer; do
  if ip netns list 2>/dev/null | grep -qw "$ns"; then
    echo "roamwatch demo: network namespace $ns already exists (another demo running, or a crashed one)." >&2
    echo "  If no demo is running: bash scripts/lab/cleanup.sh   (removes stale lab namespaces), then retry." >&2
    exit 2
  fi
done

# Which charon the lab runs: --charon 5.9 (Debian's 5.9.8, default) or --charon 6.0 (6.0.6,
# built from source by scripts/lab/strongswan-build.sh: a few minutes the first time).
charon=${ROAMWATCH_LAB_CHARON:-5.9}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [[ ${args[i]} == --charon ]]; then charon=${args[i + 1]:-}; fi
done
case $charon in
  5.9 | 6.0) ;;
  *) echo "roamwatch demo: --charon must be 5.9 or 6.0, not '$charon'" >&2; exit 2 ;;
esac
if [[ $charon == 5.9 ]]; then
  say "Installing strongSwan (charon 5.9.8, swanctl, kernel-libipsec) from Debian's packages, if missing"
  ROAMWATCH_LAB_SKIP_BUILD=1 bash scripts/lab/install.sh
else
  say "Installing strongSwan: Debian's packages, and charon 6.0.6 built from source (cached), if missing"
  bash scripts/lab/install.sh
fi
# The build's commands (scripts/commands.txt; the agent's rtnetlink helper,
# agent/native/rtnl-pipe.c, is compiled by the build) and its C headers.
RW_COMPONENT=demo bash scripts/commands.sh install build
[ -e /usr/include/linux/rtnetlink.h ] || RW_COMPONENT=demo rw_apt_install libc6-dev linux-libc-dev
RW_COMPONENT=demo bash scripts/commands.sh check base lab build node
# Node.js 24 LTS, the project's runtime (scripts/node.sh; as .ci/run does): when the system's Node
# is older, the pinned official build is cached and put first in PATH for npm, the build and the demo.
node_dir=$(bash scripts/node.sh path)
if [[ -n $node_dir ]]; then export PATH="$node_dir:$PATH"; fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "Installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "Building roamwatch (TypeScript and the rtnetlink helper)"
npm run --silent build
exec node scripts/demo.mjs "$@"
