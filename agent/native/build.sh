#!/bin/sh
# Builds the rtnetlink helper (rtnl-pipe) into agent/native/build/ (not in git).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/build"
${CC:-cc} -O2 -Wall -Wextra -o "$here/build/rtnl-pipe.tmp" "$here/rtnl-pipe.c"
mv "$here/build/rtnl-pipe.tmp" "$here/build/rtnl-pipe"
