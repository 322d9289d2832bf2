#!/usr/bin/env bash
# `make live-test`: the real APT against the public Debian archive through the proxy (the one
# test that reaches the internet, so never part of `make test`). Starts a release build on a
# free loopback port with a throwaway cache, then, twice, each time with a new APT root (no
# lists, no package cache): `apt-get update` for bookworm main and `apt-get download` of a few
# packages. The second run must be served from the cache: every .deb a HIT, and the Packages
# index (asked for by hash) too. Prints what the proxy logged of both runs and the timings.
set -euo pipefail
cd "$(dirname "$0")/../.."
SUITE=${LIVE_SUITE:-bookworm}
PACKAGES=${LIVE_PACKAGES:-"hello curl jq tree"}
KEYRING=${LIVE_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
[ -r "$KEYRING" ] || { echo "live-test: $KEYRING missing (apt-get install debian-archive-keyring)"; exit 1; }
cargo build --release --locked -q
work=$(mktemp -d)
proxy_pid=
cleanup() {
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PROXY_LISTEN=127.0.0.1:$port PROXY_BASE_URL=http://127.0.0.1:$port PROXY_LOG_LEVEL=info \
  target/release/proxy -storage "$work/cache/artifacts" -database "$work/cache/proxy.db" \
  > "$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done

run() {
  local n=$1 root=$work/apt-$1
  mkdir -p "$root"/etc/apt/{sources.list.d,preferences.d,apt.conf.d} "$root"/var/lib/apt/lists/partial \
    "$root"/var/cache/apt/archives/partial "$root"/var/lib/dpkg "$root/dl"
  : > "$root/var/lib/dpkg/status"
  : > "$root/etc/apt/apt.conf"
  echo "deb [signed-by=$KEYRING] http://127.0.0.1:$port/debian $SUITE main" > "$root/etc/apt/sources.list"
  local apt=(apt-get -o "Dir=$root" -o "Dir::State::status=$root/var/lib/dpkg/status"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o Acquire::Languages=none)
  local start=$(date +%s.%N)
  APT_CONFIG=$root/etc/apt/apt.conf "${apt[@]}" -q update
  (cd "$root/dl" && APT_CONFIG=$root/etc/apt/apt.conf "${apt[@]}" -q download $PACKAGES)
  local end=$(date +%s.%N)
  echo "run $n: $(ls "$root/dl" | wc -l) packages in $(echo "$end - $start" | bc) s"
}

echo "== run 1 (cold cache)"
run 1
mark=$(wc -l < "$work/proxy.log")
echo "== run 2 (new APT root, warm proxy)"
run 2
echo "== proxy log, run 1"
head -n "$mark" "$work/proxy.log" | grep -E ' cache=' || true
echo "== proxy log, run 2"
tail -n +"$((mark + 1))" "$work/proxy.log" | grep -E ' cache=' | tee "$work/run2.log"
misses=$(grep -E '\.deb .* cache=' "$work/run2.log" | grep -vc 'cache=HIT' || true)
debs=$(grep -c '\.deb .* cache=HIT' "$work/run2.log" || true)
index=$(grep -E 'by-hash|Packages' "$work/run2.log" | grep -vc 'cache=HIT' || true)
echo "run 2: $debs package(s) from the cache, $misses not; index requests not from the cache: $index"
[ "$misses" = 0 ] && [ "$debs" -gt 0 ] && [ "$index" = 0 ] || { echo "live-test: FAILED"; exit 1; }
echo "live-test: passed"
