#!/bin/sh
# roamwatch: runs the bundled CLI with the Node.js runtime shipped beside it
# (/usr/lib/roamwatch in the .deb, lib/roamwatch in the tarball).
here=$(dirname "$(readlink -f "$0")")
lib="$here/../lib/roamwatch"
exec "$lib/node" "$lib/roamwatch.mjs" "$@"
