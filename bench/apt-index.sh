#!/usr/bin/env bash
# Owns `make bench-apt`: what serving and verifying Debian's largest index costs. A copy of a
# suite's InRelease and its main/binary-amd64 (and binary-all) Packages.xz, the real archive's
# files, is served on loopback by a static file server; then, each in a new APT root (no lists):
#   direct   apt-get update against that server,
#   cold     apt-get update through a proxy with an empty cache (it fetches the index, decompresses
#            and reads all 50 MB of it for every package's SHA-256, and checks it against InRelease),
#   warm     apt-get update through the same proxy again (all from its cache),
# three times each; and the proxy alone: one cold GET of the by-hash Packages.xz with curl. Prints
# wall times (median) and peak memory (apt-get's own, and the proxy's VmHWM). Asserts nothing.
#
# usage: bench/apt-index.sh DIR     DIR holds debian/dists/{suite}/… as the archive has it; with
#        BENCH_APT_FETCH=1 it is filled from deb.debian.org first (needs the internet once).
#   BENCH_APT_SUITE   the suite (default bookworm)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:?usage: bench/apt-index.sh DIR}
SUITE=${BENCH_APT_SUITE:-bookworm}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
D=$DIR/debian/dists/$SUITE
if [ "${BENCH_APT_FETCH:-0}" = 1 ]; then
  for f in InRelease main/binary-amd64/Packages.xz main/binary-all/Packages.xz; do
    mkdir -p "$D/$(dirname "$f")"
    curl -fsS -o "$D/$f" "https://deb.debian.org/debian/dists/$SUITE/$f"
  done
fi
for f in main/binary-amd64/Packages.xz main/binary-all/Packages.xz; do
  h=$(sha256sum "$D/$f" | cut -d' ' -f1)
  mkdir -p "$D/$(dirname "$f")/by-hash/SHA256"
  cp -n "$D/$f" "$D/$(dirname "$f")/by-hash/SHA256/$h"
  grep -q "$h" "$D/InRelease" || { echo "$f does not match $D/InRelease: fetch both again"; exit 1; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/proxy-bench-apt.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
(cd "$ROOT" && cargo build --release --locked -q)
up=$(free_port)
python3 -m http.server "$up" --bind 127.0.0.1 --directory "$DIR" >/dev/null 2>&1 &
pids+=($!)
proxy_port=$(free_port)
start_proxy() {
  rm -rf "$W/cache"
  PROXY_LISTEN=127.0.0.1:$proxy_port PROXY_BASE_URL=http://127.0.0.1:$proxy_port PROXY_LOG_LEVEL=${BENCH_APT_LOG:-warn} \
    PROXY_UPSTREAM_DEBIAN=http://127.0.0.1:$up/debian \
    "$ROOT/target/release/proxy" -storage "$W/cache/artifacts" -database "$W/cache/proxy.db" &
  proxy_pid=$!
  pids+=($proxy_pid)
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$proxy_port/health" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "proxy did not start"; exit 1
}
stop_proxy() { kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; }
hwm() { awk '/VmHWM/ {print $2 / 1024 " MB"}' "/proc/$proxy_pid/status"; }
update() { # base URL → "seconds peak_kB" of apt-get update in a new root (runs in a subshell)
  local r
  r=$(mktemp -d "$W/apt.XXXXXX")
  mkdir -p "$r"/etc/apt/{apt.conf.d,preferences.d,sources.list.d} "$r"/var/lib/apt/lists/partial "$r"/var/cache/apt/archives/partial "$r"/var/lib/dpkg
  : >"$r/var/lib/dpkg/status"; : >"$r/etc/apt/apt.conf"
  echo "deb [arch=amd64 signed-by=$KEYRING] $1 $SUITE main" >"$r/etc/apt/sources.list"
  local off=()
  for t in DEP-11 DEP-11-icons DEP-11-icons-small DEP-11-icons-large DEP-11-icons-hidpi DEP-11-icons-large-hidpi; do
    off+=(-o "Acquire::IndexTargets::deb::$t::DefaultEnabled=false")
  done
  APT_CONFIG=$r/etc/apt/apt.conf /usr/bin/time -f "%e %M" -o "$r/time" apt-get -qq -o "Dir=$r" \
    -o "Dir::State::status=$r/var/lib/dpkg/status" -o Debug::NoLocking=1 -o APT::Sandbox::User=root \
    -o Acquire::Languages=none -o APT::Architecture=amd64 -o APT::Architectures=amd64 "${off[@]}" update >"$r/out" 2>&1 \
    || { cat "$r/out"; exit 1; }
  ! grep -q '^[WE]:' "$r/out" || { cat "$r/out"; exit 1; }
  cat "$r/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
row() { printf '%-44s %8s s  %s\n' "$1" "$2" "$3"; }

direct=() direct_mem=()
for _ in 1 2 3; do read -r t m < <(update "http://127.0.0.1:$up/debian"); direct+=("$t"); direct_mem+=("$m"); done
cold=() warm=() cold_hwm=()
for _ in 1 2 3; do
  start_proxy
  read -r t _ < <(update "http://127.0.0.1:$proxy_port/debian"); cold+=("$t")
  cold_hwm+=("$(hwm)")
  read -r t _ < <(update "http://127.0.0.1:$proxy_port/debian"); warm+=("$t")
  stop_proxy
done
start_proxy
h=$(sha256sum "$D/main/binary-amd64/Packages.xz" | cut -d' ' -f1)
curl -fsS -o /dev/null "http://127.0.0.1:$proxy_port/debian/dists/$SUITE/InRelease"
single=$(curl -fsS -o /dev/null -w '%{time_total}' "http://127.0.0.1:$proxy_port/debian/dists/$SUITE/main/binary-amd64/by-hash/SHA256/$h")
single_hwm=$(hwm)
again=$(curl -fsS -o /dev/null -w '%{time_total}' "http://127.0.0.1:$proxy_port/debian/dists/$SUITE/main/binary-amd64/by-hash/SHA256/$h")
links=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from links").fetchone()[0])' "$W/cache/proxy.db")
upstream=$(curl -fsS -o /dev/null -w '%{time_total}' "http://127.0.0.1:$up/debian/dists/$SUITE/main/binary-amd64/by-hash/SHA256/$h")
stop_proxy

echo "Debian $SUITE main amd64: Packages.xz $(stat -c %s "$D/main/binary-amd64/Packages.xz") bytes ($(xz -dc "$D/main/binary-amd64/Packages.xz" | wc -c) uncompressed), $(xz -dc "$D/main/binary-amd64/Packages.xz" | grep -c '^Package:') packages"
row "apt-get update, direct (median of 3)" "$(printf '%s\n' "${direct[@]}" | median)" "apt-get peak RSS $(printf '%s\n' "${direct_mem[@]}" | median) kB"
row "apt-get update, through the proxy, cold" "$(printf '%s\n' "${cold[@]}" | median)" "proxy peak RSS ${cold_hwm[*]}"
row "apt-get update, through the proxy, warm" "$(printf '%s\n' "${warm[@]}" | median)" ""
row "GET Packages.xz (by hash) from the archive" "$upstream" ""
row "GET Packages.xz (by hash) via proxy, cold" "$single" "proxy peak RSS $single_hwm; $links links recorded"
row "GET Packages.xz (by hash) via proxy, cached" "$again" ""
