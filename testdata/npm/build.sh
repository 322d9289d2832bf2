#!/bin/sh
# Rebuilds the fixture tarballs from src/ (needs npm). The tests compute integrity from the
# tarballs themselves, so nothing else needs regenerating.
set -e
cd "$(dirname "$0")"
for d in src/*/; do (cd "$d" && npm pack --pack-destination ../.. >/dev/null); done
