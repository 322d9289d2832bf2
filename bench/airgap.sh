#!/usr/bin/env bash
# Owns `make bench-airgap`: the air gap at scale. Generates an npm registry on disk (many small
# tarballs, and a few large ones as sparse files so the upstream costs no disk), serves it with
# nginx on loopback, and times `proxy mirror` (from a CycloneDX SBOM listing every version),
# `proxy export`, `proxy import` into an empty cache and `proxy import` of the same bundle again,
# each with its peak RSS (GNU time), at two counts of small files, to show that memory does not
# grow with the number of files. Prints a table; without --smoke, also writes it into
# BENCHMARKS.md ("Air gap"). Loopback only; everything started here is stopped on exit.
#
# usage: bench/airgap.sh [--smoke]
#   AIRGAP_SMALL   counts of 4 KiB artifacts (default "1000 10000"; --smoke "200 1000")
#   AIRGAP_LARGE_GB  total of the large artifacts in GiB, 1 GiB each (default 4; --smoke 0.05)
#   AIRGAP_SPLIT   the volume size of the large bundle (default 1GB; --smoke 20MB)
#   BENCH_KEEP=1   keep the work directory
set -euo pipefail
MODE=full
[ "${1:-}" = --smoke ] && MODE=smoke
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "$MODE" = smoke ]; then
  SMALL=${AIRGAP_SMALL:-"200 1000"} LARGE_GB=${AIRGAP_LARGE_GB:-0.05} SPLIT=${AIRGAP_SPLIT:-20MB}
else
  SMALL=${AIRGAP_SMALL:-"1000 10000"} LARGE_GB=${AIRGAP_LARGE_GB:-4} SPLIT=${AIRGAP_SPLIT:-1GB}
fi
for t in nginx python3 /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/proxy-bench-airgap.XXXXXX")
# nginx workers run as another user: they must reach the fixtures.
chmod 755 "$W"
NGINX_PID=
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
log() { printf '[airgap %s] %s\n' "$(date +%T)" "$*" >&2; }

log "building the proxy (cargo build --release)"
(cd "$ROOT" && cargo build --release --locked --quiet)
PROXY=$ROOT/target/release/proxy
PORT=$(python3 "$ROOT/bench/measure.py" ports 1)
UP=http://127.0.0.1:$PORT

log "generating fixtures in $W/up"
python3 "$ROOT/bench/airgap_fixtures.py" --out "$W/up" --upstream "$UP" \
  --small $SMALL --large-gb "$LARGE_GB" >"$W/sets"
mkdir -p "$W/nginx"
cat >"$W/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nodelay on; keepalive_requests 100000;
  client_body_temp_path $W/nginx; proxy_temp_path $W/nginx; fastcgi_temp_path $W/nginx;
  uwsgi_temp_path $W/nginx; scgi_temp_path $W/nginx;
  server {
    listen 127.0.0.1:$PORT;
    root $W/up;
    types { application/octet-stream tgz; }
    location / { default_type application/json; try_files \$uri \$uri/index.json =404; }
  }
}
EOF
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" &
NGINX_PID=$!
python3 "$ROOT/bench/measure.py" wait "$UP/$(head -1 "$W/sets" | cut -d' ' -f4)" --timeout 10

# `proxy ARGS` on the cache in DIR, timed: "seconds peak_rss_kib" on stdout, its output in
# $W/last.
timed() { # dir args...
  local dir=$1
  shift
  env PROXY_STORAGE_PATH="$dir/artifacts" PROXY_DATABASE_PATH="$dir/proxy.db" \
    PROXY_UPSTREAM_NPM="$UP" PROXY_LOG_LEVEL=warn \
    /usr/bin/time -f '%e %M' -o "$W/time" "$PROXY" "$@" >"$W/last" 2>&1 || {
    cat "$W/last" >&2
    return 1
  }
  cat "$W/time"
}

printf 'set\tfiles\tbytes\tstep\tseconds\tMiB/s\tpeak_rss_MiB\n' >"$W/table"
row() { # set files bytes step "seconds rss_kib"
  local secs rss
  read -r secs rss <<<"$5"
  python3 - "$@" "$secs" "$rss" >>"$W/table" <<'PY'
import sys
name, files, size, step, _, secs, rss = sys.argv[1:]
secs = float(secs)
rate = int(size) / 1048576 / max(secs, 0.01)
print(f"{name}\t{files}\t{size}\t{step}\t{secs:.1f}\t{rate:.0f}\t{int(rss) / 1024:.1f}")
PY
}

while read -r name files size sbom split; do
  log "$name: $files artifacts, $size bytes"
  src=$W/$name-src dst=$W/$name-dst
  # Two copies are on disk at once (the cache and the bundle, then the bundle and the imported
  # cache), and the disk is shared: refuse rather than fill it.
  avail=$(df -B1 --output=avail "$W" | tail -1)
  if [ "$avail" -lt $((2 * size + 4 * 1024 * 1024 * 1024)) ]; then
    echo "$name needs twice its $size bytes and 4 GiB to spare; $avail bytes are free" >&2
    exit 1
  fi
  t=$(timed "$src" mirror -concurrency 8 "$W/up/$sbom")
  grep -q " 0 failed" "$W/last" || { cat "$W/last" >&2; exit 1; }
  row "$name" "$files" "$size" mirror "$t"
  extra=()
  [ "$split" = yes ] && extra=(-split "$SPLIT")
  t=$(timed "$src" export -o "$W/$name.tar" "${extra[@]}")
  row "$name" "$files" "$size" export "$t"
  # Import needs only the bundle: the mirrored cache goes, so that no more than two copies exist.
  rm -rf "$src"
  volumes=("$W/$name".tar)
  [ "$split" = yes ] && volumes=("$W/$name".*.tar)
  t=$(timed "$dst" import "${volumes[@]}")
  grep -q "Imported $files new artifact(s)" "$W/last" || { cat "$W/last" >&2; exit 1; }
  row "$name" "$files" "$size" import "$t"
  t=$(timed "$dst" import "${volumes[@]}")
  grep -q "Imported 0 new artifact(s)" "$W/last" || { cat "$W/last" >&2; exit 1; }
  row "$name" "$files" "$size" "import again" "$t"
  # The disk is shared: each set's copies go before the next.
  rm -rf "$src" "$dst" "$W/$name".*tar
done <"$W/sets"

column -t -s $'\t' "$W/table"
if [ "$MODE" = full ]; then
  python3 - "$ROOT/BENCHMARKS.md" "$W/table" "$SPLIT" <<'PY'
import sys, subprocess, datetime
md, table, split = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(table)][1:]
out = ["<!-- airgap:begin (bench/airgap.sh writes this table) -->", "",
       f"Measured {datetime.datetime.utcnow():%Y-%m-%d} on {subprocess.getoutput('nproc')} cores; "
       f"the large bundle in volumes of {split}.", "",
       "| set | files | bytes | step | seconds | MiB/s | peak RSS (MiB) |", "|---|---:|---:|---|---:|---:|---:|"]
for name, files, size, step, secs, rate, rss in rows:
    out.append(f"| {name} | {int(files):,} | {int(size):,} | {step} | {secs} | {rate} | {rss} |")
out += ["", "<!-- airgap:end -->"]
text = open(md).read()
start, end = text.find("<!-- airgap:begin"), text.find("<!-- airgap:end -->")
if start < 0 or end < 0:
    sys.exit("BENCHMARKS.md has no airgap markers")
text = text[:start] + "\n".join(out) + text[end + len("<!-- airgap:end -->"):]
open(md, "w").write(text)
PY
  log "BENCHMARKS.md updated"
fi
