#!/usr/bin/env bash
# The external commands roamwatch runs (scripts/commands.txt): install what is missing
# from Debian's packages, and check that everything is there. docs/testing.md
# ("External commands") explains the list and how it is kept complete.
#
# Usage: bash scripts/commands.sh list|missing|install|check|owners [GROUP ...]
#   list     print the entries of the groups
#   missing  print the missing commands of the groups, with their packages (exit 1 if any)
#   install  apt-get install the packages of the missing commands (as root), then check
#            (never for the groups base and node: those must be there already)
#   check    exit 1, naming each missing command and its package, unless all are there
#   owners   for each command here: its path and the Debian package that owns it (dpkg -S),
#            beside the package the list names (to verify the list on a machine)
# Without groups: every group but `optional`. Groups: base lab build servers bench node package optional.
set -euo pipefail
RW_COMPONENT=${RW_COMPONENT:-commands}
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ROAMWATCH_COMMANDS_LIST: another list in the same format (the tests use it).
list_file="${ROAMWATCH_COMMANDS_LIST:-$RW_REPO_ROOT/scripts/commands.txt}"
all_groups=(base lab build servers bench node package)

# The machine's Go toolchain usually lives in /usr/local/go (as scripts/influxdb/install.sh
# also assumes); it counts as `go`.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi

usage() {
  sed -n '6,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# entries GROUP...: "command package groups" lines of the list in any of the groups.
entries() {
  local line cmd pkg groups g want
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%%#*}
    read -r cmd pkg groups _ <<<"$line" || true
    [[ -n ${cmd:-} ]] || continue
    [[ -n ${pkg:-} && -n ${groups:-} ]] || rw_die "$list_file: bad line '$line' (want: COMMAND PACKAGE GROUPS)"
    for want in "$@"; do
      for g in ${groups//,/ }; do
        if [[ $g == "$want" ]]; then
          echo "$cmd $pkg $groups"
          continue 3
        fi
      done
    done
  done <"$list_file"
}

present() {
  if [[ $1 == /* ]]; then [[ -x $1 ]]; else command -v "$1" >/dev/null 2>&1; fi
}

# missing GROUP...: "command package" of each missing command (optional ones never are).
missing() {
  local cmd pkg g
  while read -r cmd pkg g; do
    [[ ,$g, == *,optional,* ]] && continue # never required
    present "$cmd" || echo "$cmd $pkg"
  done < <(entries "$@")
}

# owner CMD: the Debian package that owns the command's file (Debian 12 merged /usr, so
# dpkg may know a file under /bin as well as /usr/bin).
owner() {
  local path real p
  path=$(if [[ $1 == /* ]]; then echo "$1"; else command -v "$1"; fi) || return 1
  real=$(readlink -f "$path")
  for p in "$path" "$real" "${path#/usr}" "${real#/usr}" "/usr${path#/usr}" "/usr${real#/usr}"; do
    dpkg-query -S "$p" 2>/dev/null | grep -v '^diversion by' | sed -n '1s/:.*//p' | grep . && return 0
  done
  echo "(no package: $real)"
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift
groups=("$@")
((${#groups[@]} > 0)) || groups=("${all_groups[@]}")
for g in "${groups[@]}"; do
  [[ " ${all_groups[*]} optional " == *" $g "* ]] || rw_die "unknown group '$g' (known: ${all_groups[*]} optional)"
done

# A malformed line fails here, in this shell (below, entries runs in subshells).
entries "${all_groups[@]}" optional >/dev/null

case $cmd in
  list) entries "${groups[@]}" ;;
  missing)
    out=$(missing "${groups[@]}")
    [[ -z $out ]] || { echo "$out"; exit 1; }
    ;;
  install)
    # base and node are never installed from here (see scripts/commands.txt)
    declare -A never=()
    while read -r c _p _g; do never[$c]=1; done < <(entries base node)
    pkgs=()
    while read -r c p; do
      [[ -n ${c:-} && -z ${never[$c]:-} ]] && pkgs+=("$p")
    done < <(missing "${groups[@]}")
    if ((${#pkgs[@]} > 0)); then
      mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
      rw_apt_install "${pkgs[@]}"
    fi
    exec bash "${BASH_SOURCE[0]}" check "${groups[@]}"
    ;;
  check)
    out=$(missing "${groups[@]}")
    if [[ -n $out ]]; then
      while read -r c p; do
        if [[ $p == nodejs ]]; then
          rw_log "missing: $c (Node.js >= 20 with npm; install it before anything else)"
        else
          rw_log "missing: $c (Debian package $p)"
        fi
      done <<<"$out"
      rw_die "external commands missing (groups: ${groups[*]}); install them with: bash scripts/commands.sh install ${groups[*]}   (as root)"
    fi
    rw_log "all $(entries "${groups[@]}" | wc -l) external commands of groups ${groups[*]} present"
    ;;
  owners)
    printf '%-24s %-24s %-26s %s\n' COMMAND LISTED OWNER PATH
    while read -r c p _g; do
      if present "$c"; then
        printf '%-24s %-24s %-26s %s\n' "$c" "$p" "$(owner "$c")" "$(if [[ $c == /* ]]; then echo "$c"; else command -v "$c"; fi)"
      else
        printf '%-24s %-24s %-26s %s\n' "$c" "$p" - "(missing)"
      fi
    done < <(entries "${groups[@]}")
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
