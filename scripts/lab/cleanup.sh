#!/usr/bin/env bash
# Removes strongSwan labs (test/lab/) left behind by crashed runs: namespaces
# rwlab-<id>-gw/-peer (a lab fleet's upstream router: rwlab-<id>-up), every process inside them (the lab's charons and commands
# started there) and the lab directory ${TMPDIR:-/tmp}/rwlab-<id>.
#
# A lab whose owner process (lab.json: ownerPid + ownerStart) still runs is never
# touched: other engineers' or other test runs' labs stay up.
#
# Usage: bash scripts/lab/cleanup.sh [--list] [--include-unowned]
#   --list             only show labs and whether they are live or stale
#   --include-unowned  also remove rwlab-* namespaces/dirs without lab.json
set -euo pipefail

list_only=0
include_unowned=0
for a in "$@"; do
  case $a in
    --list) list_only=1 ;;
    --include-unowned) include_unowned=1 ;;
    *) echo "usage: $0 [--list] [--include-unowned]" >&2; exit 2 ;;
  esac
done

base=${TMPDIR:-/tmp}
id_re='^rwlab-[a-z0-9][a-z0-9-]{0,31}$'

ids=$( {
  ip netns list 2>/dev/null | awk '{print $1}' | sed -nE 's/^(rwlab-[a-z0-9][a-z0-9-]*)-(gw|peer|up)$/\1/p'
  for d in "$base"/rwlab-*; do if [[ -d $d ]]; then basename "$d"; fi; done
} | sort -u)

json_field() { sed -nE "s/.*\"$2\": *\"?([^\",}]*)\"?.*/\1/p" "$1" | head -n1; }

owner_state() { # prints live | stale | unowned
  local f=$base/$1/lab.json pid start now
  [[ -f $f ]] || { echo unowned; return; }
  pid=$(json_field "$f" ownerPid)
  start=$(json_field "$f" ownerStart)
  if [[ -n $pid && -r /proc/$pid/stat ]]; then
    now=$(sed -E 's/.*\) //' "/proc/$pid/stat" | awk '{print $20}')
    [[ $now == "$start" ]] && { echo live; return; }
  fi
  echo stale
}

for id in $ids; do
  [[ $id =~ $id_re ]] || continue
  state=$(owner_state "$id")
  if ((list_only)); then echo "$id $state"; continue; fi
  if [[ $state == live ]] || { [[ $state == unowned ]] && ((!include_unowned)); }; then
    echo "keep   $id ($state)"
    continue
  fi
  for ns in "$id-gw" "$id-peer" "$id-up"; do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  rm -rf -- "${base:?}/$id"
  echo "remove $id ($state)"
done
exit 0
