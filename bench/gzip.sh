#!/usr/bin/env bash
# Owns `make bench-gzip`: how fast src/gzip.rs decompresses a large index, the job the OS
# registries give it (Debian `Packages.gz`, 50 MB decompressed). Generates a Packages-like file
# with bench/packages.py (or takes BENCH_GZIP_INPUT, any uncompressed file), compresses it with the
# system's `gzip -6`, and runs each candidate of bench/gzip.rs on it in its own process, with
# `gzip -dc` (zlib, C) as the reference. Prints a table; asserts nothing. About a minute.
#
# usage: bench/gzip.sh [candidate...]   (default: stream crc32)
#   BENCH_GZIP_INPUT  an uncompressed file to use instead of the generated one
#   BENCH_GZIP_MB     size of the generated file in MB (default 50)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/proxy-bench-gzip.XXXXXX")
trap 'rm -rf "$W"' EXIT
CANDIDATES=("${@:-stream}")
[ $# -eq 0 ] && CANDIDATES=(stream crc32)

if [ -n "${BENCH_GZIP_INPUT:-}" ]; then
  cp "$BENCH_GZIP_INPUT" "$W/plain"
else
  python3 "$ROOT/bench/packages.py" $((${BENCH_GZIP_MB:-50} * 1000000)) >"$W/plain"
fi
gzip -6 -n -c "$W/plain" >"$W/plain.gz"
(cd "$ROOT" && cargo build --locked --profile bench --bench gzip --message-format=json) >"$W/build.json"
BIN=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gzip" and m.get("executable"):
        print(m["executable"])' "$W/build.json")

printf 'candidate\tin_bytes\tout_bytes\tcpu_s\twall_s\tMB/s_out\tpeak_rss\n'
for c in "${CANDIDATES[@]}"; do "$BIN" "$c" "$W/plain.gz"; done
# The reference: zlib in C (`gzip -dc`), best of five, CPU time of the child from Python.
python3 - "$W/plain.gz" "$(stat -c %s "$W/plain")" <<'PY'
import os, subprocess, sys, time
best = wall = float("inf")
for _ in range(5):
    t, r0 = time.monotonic(), os.times()
    subprocess.run(["gzip", "-dc", sys.argv[1]], stdout=subprocess.DEVNULL, check=True)
    r1 = os.times()
    best = min(best, r1.children_user + r1.children_system - r0.children_user - r0.children_system)
    wall = min(wall, time.monotonic() - t)
out = int(sys.argv[2])
print(f"gzip -dc\t{os.path.getsize(sys.argv[1])}\t{out}\t{best:.3f}\t{wall:.3f}\t{out / best / 1e6:.0f}\t-")
PY
