#!/usr/bin/env bash
# Owns `make bench` and `make bench-smoke`: starts a loopback fake upstream and nginx, the proxy
# and its peers (NORA, Verdaccio, proxpi, devpi-server), runs the scenarios of the benchmark issue,
# and hands the raw results to bench/report.py, which writes the table into BENCHMARKS.md (the
# smoke run prints it instead). Every figure is a ratio against a reference measured in the same
# run. Loopback only; bounded in time (a watchdog ends the run); everything started here is
# stopped on exit.
#
# usage: bench/run.sh [--smoke | --small]
#   --small      only scenario 1's cached 4 KiB npm tarball at 8 and 64 connections, ours against
#                nginx (and against BENCH_BASELINE, another proxy binary, in the same rounds):
#                an A/B of a change to the hit path; prints the ratios, writes nothing
#   BENCH_ROUNDS rounds of --small (default 5)
#   BENCH_BASELINE with --small: a proxy binary to measure beside this tree's (target "base")
#   BENCH_TOOLS  where peers are installed (default /work/bench-tools, else ~/.cache/proxy-bench)
#   BENCH_OUT    the Markdown file to update (default BENCHMARKS.md; the smoke run only prints)
#   BENCH_KEEP=1 keep the work directory (logs, caches, raw results)
#   BENCH_PEERS=1 with --smoke: include the peers too (they are installed if missing)
set -euo pipefail

MODE=full
[ "${1:-}" = --smoke ] && MODE=smoke
[ "${1:-}" = --small ] && MODE=small
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/bench
if [ -z "${BENCH_TOOLS:-}" ]; then
  if [ -d /work ] && [ -w /work ]; then BENCH_TOOLS=/work/bench-tools; else BENCH_TOOLS=$HOME/.cache/proxy-bench; fi
fi
export BENCH_TOOLS
OUT_MD=${BENCH_OUT:-$ROOT/BENCHMARKS.md}

if [ "$MODE" = small ]; then
  DUR=3 LDUR=5 ROUNDS=${BENCH_ROUNDS:-5} CONNS="8 64"
  LARGE=$((4 << 20)) META=200000 HUGE=2000000 COLD=3 COLDL=1 HERD=$((1 << 20))
  MANYHUGE=2000000 DEPS=10 INSTALL_TTL=3
  SEED=1000 STARTRUNS=2 LIMIT=${BENCH_LIMIT:-900} OCI=$((2 << 20)) OCIRUNS=2
elif [ "$MODE" = full ]; then
  DUR=3 LDUR=5 ROUNDS=3 CONNS="1 8 64"
  LARGE=$((100 << 20)) META=5000000 HUGE=150000000 COLD=20 COLDL=5 HERD=$((8 << 20))
  MANYHUGE=500000000 DEPS=100 INSTALL_TTL=20
  SEED=100000 STARTRUNS=5 LIMIT=${BENCH_LIMIT:-3000} OCI=$((50 << 20)) OCIRUNS=5
else
  DUR=1 LDUR=1 ROUNDS=1 CONNS="8"
  LARGE=$((4 << 20)) META=200000 HUGE=2000000 COLD=3 COLDL=1 HERD=$((1 << 20))
  MANYHUGE=2000000 DEPS=10 INSTALL_TTL=3
  SEED=1000 STARTRUNS=2 LIMIT=${BENCH_LIMIT:-300} OCI=$((2 << 20)) OCIRUNS=2
fi
HERD_N=100

W=$(mktemp -d "${TMPDIR:-/tmp}/proxy-bench.XXXXXX")
RES=$W/results.jsonl
: >"$RES"
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
M() { python3 "$B/measure.py" "$@"; }
# One JSON object per line: key=value arguments (values stay strings; report.py converts).
rec() { python3 -c 'import json,sys; print(json.dumps(dict(a.split("=",1) for a in sys.argv[1:])))' "$@" >>"$RES"; }
note() { log "$*"; rec k=note "text=$*"; }

# ---- processes: each server runs in its own session, so its whole group can be stopped --------
PIDS=()
start() { # name log command...
  local name=$1 out=$2
  shift 2
  setsid "$@" >"$out" 2>&1 </dev/null &
  PIDS+=("$!")
  printf -v "PID_$name" '%s' "$!"
}
stop_pid() {
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
WATCHDOG=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  [ -n "$WATCHDOG" ] && { kill "$WATCHDOG" 2>/dev/null; wait "$WATCHDOG" 2>/dev/null; }
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "work directory kept: $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
(
  trap 'kill $s 2>/dev/null; exit 0' TERM
  sleep "$LIMIT" & s=$!
  wait $s && { echo "[bench] time limit of ${LIMIT}s reached; stopping" >&2; kill -TERM $$; }
) &
WATCHDOG=$!

# ---- tools --------------------------------------------------------------------------------------
log "mode $MODE, work directory $W, tools in $BENCH_TOOLS"
PEERS=no
{ [ "$MODE" = full ] || [ "${BENCH_PEERS:-0}" = 1 ]; } && PEERS=yes
if [ "$PEERS" = yes ]; then
  "$B/install.sh" | while read -r line; do note "$line"; done
else
  "$B/install.sh" --smoke | while read -r line; do note "$line"; done
fi
for t in wrk nginx curl python3; do
  command -v $t >/dev/null || { log "missing: $t (see the notes above); cannot run"; exit 1; }
done
NORA_BIN=$BENCH_TOOLS/nora/bin/nora
VERDACCIO=$BENCH_TOOLS/verdaccio/node_modules/.bin/verdaccio
PYENV=$BENCH_TOOLS/pyenv
have() { [ "$PEERS" = yes ] && [ -x "$1" ]; }

log "building the proxy (cargo build --release)"
(cd "$ROOT" && cargo build --release --locked --quiet)
PROXY=$ROOT/target/release/proxy
if [ "$MODE" = full ]; then
  log "building the static binary (make static)"
  (cd "$ROOT" && make --no-print-directory static >/dev/null 2>"$W/static.log") ||
    note "make static failed: $(tail -1 "$W/static.log")"
fi

# ---- machine ------------------------------------------------------------------------------------
rec k=machine \
  "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
  "cores=$(nproc)" "mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)" \
  "kernel=$(uname -r)" "os=$(. /etc/os-release && echo "$PRETTY_NAME")" \
  "load_start=$(cut -d' ' -f1-3 /proc/loadavg)" "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
  "mode=$MODE" "commit=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  "nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')" "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')" \
  "nora=$([ -x "$NORA_BIN" ] && "$NORA_BIN" --version 2>/dev/null | awk '{print $NF}')" \
  "node=$(node --version 2>/dev/null)"

# ---- ports, fixtures, nginx (fake upstream + ceiling) ---------------------------------------------
read -r P_UP P_NGINX P_OURS P_STATIC P_NORA P_VERD P_PROXPI P_DEVPI P_REG P_BASE <<<"$(M ports 10)"
UP=http://127.0.0.1:$P_UP
log "generating fixtures"
python3 "$B/fixtures.py" --out "$W/fx" --upstream "$UP" --large "$LARGE" --meta "$META" \
  --huge "$HUGE" --cold "$COLD" --cold-large "$COLDL" --herd "$HERD" --oci-blob "$OCI" --oci-image "$OCI" \
  --many-huge "$MANYHUGE" --deps "$DEPS"
MAN=$W/fx/manifest.json
man() { python3 -c "import json,sys; m=json.load(open('$MAN')); print(eval(sys.argv[1]))" "$1"; }
SMALL_SHA=$(man 'm["npm"]["bench-small"]["files"][0]["sha256"]')
LARGE_SHA=$(man 'm["npm"]["bench-large"]["files"][0]["sha256"]')
HERD_SHA=$(man 'm["npm"]["bench-herd"]["files"][0]["sha256"]')
COLDL_SHA=$(man 'm["npm"]["bench-coldlarge"]["files"][0]["sha256"]')
OCI_SHA=$(man 'm["oci"]["blob"]["sha256"]')
cat "$W"/fx/upstream/*/-/*.tgz "$W"/fx/upstream/meta/* >/dev/null # into the page cache

mkdir -p "$W/nginx/tmp" "$W/ceil"
cat >"$W/nginx/nginx.conf" <<EOF
# The fake upstream (an npm registry and a PyPI simple index serving the fixtures) and the
# ceiling (the same files served from disk at the proxy's paths).
worker_processes auto;
user root;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 4096; }
http {
  # PEP 691: a client that prefers JSON gets the JSON form of a simple page.
  map \$http_accept \$simple_index {
    ~application/vnd\.pypi\.simple\.v1\+json index.json;
    default index.html;
  }
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 10000000; keepalive_timeout 120;
  types { application/octet-stream tgz whl; text/html html; application/json json; }
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path $W/nginx/tmp/body; proxy_temp_path $W/nginx/tmp/proxy;
  fastcgi_temp_path $W/nginx/tmp/fcgi; uwsgi_temp_path $W/nginx/tmp/uwsgi;
  scgi_temp_path $W/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$P_UP;
    root $W/fx/upstream;
    access_log $W/nginx/upstream.log;
    location ~ ^/bench-herd/ { limit_rate $HERD; }  # the fill takes a second: every request overlaps it
    location ~ \.tgz\$ { }
    location /simple/ {
      index \$simple_index;
      types { application/vnd.pypi.simple.v1+json json; text/html html; }
    }
    location /packages/ { }
    location /v2/ { }
    location / { default_type application/json; try_files /meta\$uri.json =404; }
  }
  server {
    listen 127.0.0.1:$P_NGINX;
    root $W/ceil;
    location /npm/ { default_type application/json; }
    location /pypi/simple/ { index index.html; default_type text/html; }
  }
}
EOF
start nginx "$W/nginx/out.log" nginx -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log" -g 'daemon off;'
M wait "$UP/bench-small" --timeout 10
upstream_count() { grep -c " $1 HTTP" "$W/nginx/upstream.log" 2>/dev/null || true; }

# ---- the servers --------------------------------------------------------------------------------
idle_rss() { # target pid
  sleep 1
  local r
  r=$(M rss "$2")
  rec k=val name=idle_rss_kb "target=$1" "value=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['rss_kb'])" "$r")"
}
proxy_env=(env PROXY_UPSTREAM_NPM="$UP" PROXY_METADATA_TTL=1h PROXY_UPSTREAM_OCI="$UP"
  PROXY_UPSTREAM_OCI_REG="http://127.0.0.1:$P_REG")
start_ours() { # name binary port
  start "$1" "$W/$1.log" "${proxy_env[@]}" "$2" serve -listen "127.0.0.1:$3" \
    -base-url "http://127.0.0.1:$3" -storage "$W/$1/artifacts" -database "$W/$1/proxy.db"
  M wait "http://127.0.0.1:$3/health" --timeout 20
}
start_ours ours "$PROXY" "$P_OURS"
PYPI=no
if curl -fsS "http://127.0.0.1:$P_OURS/" | grep -q '/pypi/'; then
  PYPI=yes
  stop_pid "$PID_ours"
  proxy_env+=(PROXY_UPSTREAM_PYPI="$UP" PROXY_UPSTREAM_PYPI_FILES="$UP")
  start_ours ours "$PROXY" "$P_OURS"
else
  note "PyPI registry not in this build: the PyPI rows are skipped"
fi
idle_rss ours "$PID_ours"
OURS=http://127.0.0.1:$P_OURS
# The shipped binary is the static one (musl): its allocator differs, so it is measured too.
STATIC=$ROOT/target/static/proxy SOURS=
if [ "$MODE" = full ] && [ -x "$STATIC" ]; then
  start_ours static "$STATIC" "$P_STATIC"
  idle_rss static "$PID_static"
  SOURS=http://127.0.0.1:$P_STATIC
fi

NORA=
if have "$NORA_BIN"; then
  # Rate limiting (100 requests/s by default) would make any load test measure the limiter, and
  # the audit log is off to compare the fastest NORA; curation off keeps it a plain cache.
  start nora "$W/nora.log" env NORA_HOST=127.0.0.1 NORA_PORT="$P_NORA" \
    NORA_STORAGE_PATH="$W/nora/data" NORA_RATE_LIMIT_ENABLED=false NORA_AUDIT_LOG=off \
    NORA_CURATION_MODE=off NORA_NPM_ENABLED=true NORA_NPM_PROXY="$UP" NORA_NPM_METADATA_TTL=3600 \
    NORA_PYPI_ENABLED=true NORA_PYPI_PROXY="$UP/simple/" "$NORA_BIN"
  if M wait "http://127.0.0.1:$P_NORA/health" --timeout 20; then
    NORA=http://127.0.0.1:$P_NORA
    idle_rss nora "$PID_nora"
  else
    note "NORA did not start: $(tail -2 "$W/nora.log")"
  fi
elif [ "$PEERS" = yes ]; then note "NORA not installed: its rows are skipped"; fi

VERD=
if have "$VERDACCIO"; then
  mkdir -p "$W/verdaccio"
  cat >"$W/verdaccio/config.yaml" <<EOF
storage: $W/verdaccio/storage
uplinks:
  up:
    url: $UP/
    timeout: 60s
    maxage: 60m
packages:
  '**':
    access: \$all
    proxy: up
web:
  enable: false
max_body_size: 500mb
log: { type: stdout, format: pretty, level: error }
EOF
  start verdaccio "$W/verdaccio.log" node "$VERDACCIO" --config "$W/verdaccio/config.yaml" \
    --listen "127.0.0.1:$P_VERD"
  if M wait "http://127.0.0.1:$P_VERD/-/ping" --timeout 30; then
    VERD=http://127.0.0.1:$P_VERD
    idle_rss verdaccio "$PID_verdaccio"
  else
    note "Verdaccio did not start: $(tail -2 "$W/verdaccio.log")"
  fi
elif [ "$PEERS" = yes ]; then note "Verdaccio not installed: its rows are skipped"; fi

PROXPI= DEVPI=
if [ "$PYPI" = yes ] && have "$PYENV/bin/gunicorn"; then
  start proxpi "$W/proxpi.log" env PROXPI_INDEX_URL="$UP/simple/" PROXPI_CACHE_DIR="$W/proxpi" \
    "$PYENV/bin/gunicorn" --bind "127.0.0.1:$P_PROXPI" --workers 2 --threads 8 proxpi.server:app
  # Its root page answers at once; the project list is fetched on the first /index/ request.
  if M wait "http://127.0.0.1:$P_PROXPI/" --timeout 30 &&
    M fetch "http://127.0.0.1:$P_PROXPI/index/" --timeout 60 >/dev/null; then
    PROXPI=http://127.0.0.1:$P_PROXPI
    idle_rss proxpi "$PID_proxpi"
  else note "proxpi did not start: $(tail -2 "$W/proxpi.log")"; fi
fi
if [ "$PYPI" = yes ] && have "$PYENV/bin/devpi-server"; then
  if "$PYENV/bin/devpi-init" --serverdir "$W/devpi" --no-root-pypi >"$W/devpi-init.log" 2>&1; then
    start devpi "$W/devpi.log" "$PYENV/bin/devpi-server" --serverdir "$W/devpi" \
      --host 127.0.0.1 --port "$P_DEVPI"
    if M wait "http://127.0.0.1:$P_DEVPI/+api" --timeout 60 &&
      python3 "$B/devpi_mirror.py" "http://127.0.0.1:$P_DEVPI" "$UP/simple/" >"$W/devpi-mirror.log" 2>&1; then
      DEVPI=http://127.0.0.1:$P_DEVPI
      idle_rss devpi "$PID_devpi"
    else note "devpi-server did not start: $(tail -2 "$W/devpi.log" "$W/devpi-mirror.log" | tr '\n' ' ')"; fi
  else note "devpi-init failed: $(tail -1 "$W/devpi-init.log")"; fi
fi

# ---- URLs per target and document; each is checked (status, size, sha256) before it is loaded ---
declare -A URL
# What pip sends for a simple page (PEP 691 JSON preferred); everything else asks for */*.
PIP_ACCEPT='application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01'
accept() { case $1 in pypi-page) echo "$PIP_ACCEPT" ;; *) echo '*/*' ;; esac; }
add() { # doc target url [sha256 size]: fetch twice (a miss, then a hit) and keep if both are right
  local doc=$1 target=$2 url=$3 sha=${4:-} size=${5:-} args=()
  args+=(--header "Accept: $(accept "$doc")")
  [ -n "$sha" ] && args+=(--sha256 "$sha" --size "$size")
  if M fetch "$url" "${args[@]}" >/dev/null 2>"$W/check.err" && M fetch "$url" "${args[@]}" >/dev/null 2>>"$W/check.err"; then
    URL[$doc/$target]=$url
  else
    note "$target cannot serve $doc: $(tail -1 "$W/check.err")"
  fi
}
NPM_TARGETS="ours static nginx nora verdaccio"
base() {
  case $1 in
    ours) echo "$OURS/npm" ;; static) echo "${SOURS:+$SOURS/npm}" ;;
    nora) echo "${NORA:+$NORA/npm}" ;; verdaccio) echo "$VERD" ;;
  esac
}
log "warming caches and checking every answer"
for t in ours static nora verdaccio; do
  b=$(base $t)
  [ -n "$b" ] || continue
  for p in bench-small bench-large bench-meta; do M fetch "$b/$p" >/dev/null 2>&1 || true; done
  add npm-small $t "$b/bench-small/-/bench-small-1.0.0.tgz" "$SMALL_SHA" 4096
  add npm-large $t "$b/bench-large/-/bench-large-1.0.0.tgz" "$LARGE_SHA" "$LARGE"
  add npm-meta $t "$b/bench-meta"
done
# The ceiling serves the same bytes: the fixture tarballs and the packument as the proxy rewrote it.
mkdir -p "$W/ceil/npm/bench-small/-" "$W/ceil/npm/bench-large/-"
ln "$W/fx/upstream/bench-small/-/bench-small-1.0.0.tgz" "$W/ceil/npm/bench-small/-/"
ln "$W/fx/upstream/bench-large/-/bench-large-1.0.0.tgz" "$W/ceil/npm/bench-large/-/"
M fetch "$OURS/npm/bench-meta" --save "$W/ceil/npm/bench-meta" >/dev/null
NG=http://127.0.0.1:$P_NGINX
add npm-small nginx "$NG/npm/bench-small/-/bench-small-1.0.0.tgz" "$SMALL_SHA" 4096
add npm-large nginx "$NG/npm/bench-large/-/bench-large-1.0.0.tgz" "$LARGE_SHA" "$LARGE"
add npm-meta nginx "$NG/npm/bench-meta"
# An OCI blob (what a pull spends its time on), from the fake upstream's registry path.
OCI_PATH=/v2/bench/oci/blobs/sha256:$OCI_SHA
add oci-large ours "$OURS$OCI_PATH" "$OCI_SHA" "$OCI"
[ -n "$SOURS" ] && add oci-large static "$SOURS$OCI_PATH" "$OCI_SHA" "$OCI"
mkdir -p "$W/ceil/v2/bench/oci/blobs"
ln "$W/fx/upstream$OCI_PATH" "$W/ceil$OCI_PATH"
add oci-large nginx "$NG$OCI_PATH" "$OCI_SHA" "$OCI"

PYPI_TARGETS="ours static nginx nora proxpi devpi"
if [ "$PYPI" = yes ]; then
  pyfile() { man "m['pypi']['$1']['files'][0]['$2']"; }
  for proj in bench-small bench-large; do
    doc=pypi-${proj#bench-}
    fn=$(pyfile $proj filename) path=$(pyfile $proj path) sha=$(pyfile $proj sha256) size=$(pyfile $proj size)
    M fetch "$OURS/pypi/simple/$proj/" >/dev/null 2>&1 || true
    add $doc ours "$OURS/pypi/files$path" "$sha" "$size"
    if [ -n "$SOURS" ]; then
      M fetch "$SOURS/pypi/simple/$proj/" >/dev/null 2>&1 || true
      add $doc static "$SOURS/pypi/files$path" "$sha" "$size"
    fi
    mkdir -p "$W/ceil/pypi/files$(dirname "$path")"
    ln "$W/fx/upstream$path" "$W/ceil/pypi/files$path"
    add $doc nginx "$NG/pypi/files$path" "$sha" "$size"
    if [ -n "$NORA" ]; then
      M fetch "$NORA/simple/$proj/" >/dev/null 2>&1 || true
      add $doc nora "$NORA/simple/$proj/$fn" "$sha" "$size"
    fi
    [ -n "$PROXPI" ] && add $doc proxpi "$PROXPI/index/$proj/$fn" "$sha" "$size"
    if [ -n "$DEVPI" ]; then
      u=$(python3 "$B/devpi_mirror.py" --link "$DEVPI/root/bench/+simple/$proj/" "$fn" 2>>"$W/check.err") &&
        add $doc devpi "$u" "$sha" "$size" || note "devpi: no link to $fn"
    fi
  done
  add pypi-page ours "$OURS/pypi/simple/bench-meta/"
  mkdir -p "$W/ceil/pypi/simple/bench-meta"
  M fetch "$OURS/pypi/simple/bench-meta/" --header "Accept: $PIP_ACCEPT" \
    --save "$W/ceil/pypi/simple/bench-meta/index.html" >/dev/null
  add pypi-page nginx "$NG/pypi/simple/bench-meta/"
  [ -n "$NORA" ] && add pypi-page nora "$NORA/simple/bench-meta/"
  [ -n "$PROXPI" ] && add pypi-page proxpi "$PROXPI/index/bench-meta/"
  [ -n "$DEVPI" ] && add pypi-page devpi "$DEVPI/root/bench/+simple/bench-meta/"
fi

# ---- scenarios 1 and 2: cached artifacts and metadata under load --------------------------------
pid_of() { local v="PID_$1"; echo "${!v:-}"; }
load() { # doc targets...: every round runs every target once, so each round's ratios share a moment
  local doc=$1 c r t url threads d timeout out pid cpu0 cpu
  shift
  for c in $CONNS; do
    threads=$((c < 2 ? 1 : 2))
    d=$DUR timeout=10
    case $doc in *large) d=$LDUR timeout=60 ;; esac
    if [ "$c" = 64 ]; then for t in "$@"; do [ -n "$(pid_of "$t")" ] && M reset-hwm "$(pid_of "$t")"; done; fi
    for r in $(seq "$ROUNDS"); do
      for t in "$@"; do
        url=${URL[$doc/$t]:-}
        [ -n "$url" ] || continue
        pid=$(pid_of "$t") cpu0=
        [ -n "$pid" ] && cpu0=$(M cpu "$pid")
        out=$(wrk -t "$threads" -c "$c" -d "${d}s" --timeout "${timeout}s" -H "Accept: $(accept "$doc")" \
          -s "$B/wrk.lua" "$url" 2>&1 | grep '^RESULT' || true)
        [ -n "$out" ] || { note "wrk gave no result for $t $doc c=$c"; continue; }
        cpu=
        [ -n "$cpu0" ] && cpu=$(python3 -c "print(round($(M cpu "$pid") - $cpu0, 2))")
        # shellcheck disable=SC2086
        rec k=load "doc=$doc" "target=$t" "conns=$c" "round=$r" "cpu_s=$cpu" ${out#RESULT }
      done
    done
    if [ "$c" = 64 ]; then
      for t in "$@"; do
        pid=$(pid_of "$t")
        [ -n "$pid" ] && [ -n "${URL[$doc/$t]:-}" ] || continue
        rec k=val name=peak64_rss_kb "target=$t" "doc=$doc" \
          "value=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['hwm_kb'])" "$(M rss "$pid")")"
      done
    fi
  done
}
if [ "$MODE" = small ]; then
  # ---- --small: the cached small file only, ours (and a baseline) against nginx --------------
  targets="ours nginx"
  if [ -n "${BENCH_BASELINE:-}" ]; then
    start_ours base "$BENCH_BASELINE" "$P_BASE"
    M fetch "http://127.0.0.1:$P_BASE/npm/bench-small" >/dev/null
    add npm-small base "http://127.0.0.1:$P_BASE/npm/bench-small/-/bench-small-1.0.0.tgz" "$SMALL_SHA" 4096
    targets="ours base nginx"
  fi
  log "cached 4 KiB tarball: $ROUNDS rounds of ${DUR}s at $CONNS connections; targets: $targets"
  # shellcheck disable=SC2086
  load npm-small $targets
  python3 - "$RES" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    if r.get("k") == "load":
        by.setdefault((int(r["conns"]), r["target"]), {})[int(r["round"])] = int(r["requests"]) / (int(r["duration_us"]) / 1e6)
for c in sorted({c for c, _ in by}):
    ng = by.get((c, "nginx"), {})
    for t in ("ours", "base"):
        got = by.get((c, t))
        if not got:
            continue
        ratios = [got[i] / ng[i] for i in sorted(got) if ng.get(i)]
        print(f"c={c:<3} {t:5} " + " ".join(f"{r:.3f}" for r in ratios)
              + f"  median {statistics.median(ratios):.3f}x nginx"
              + f"  ({statistics.median(got.values()):,.0f} req/s; nginx {statistics.median(ng.values()):,.0f})")
PY
  exit 0
fi
log "scenario 1 and 2: load (${ROUNDS} rounds of ${DUR}s, large ${LDUR}s, connections: $CONNS)"
# shellcheck disable=SC2086
for doc in npm-small npm-large npm-meta; do load $doc $NPM_TARGETS; done
load oci-large ours static nginx
if [ "$PYPI" = yes ]; then
  # shellcheck disable=SC2086
  for doc in pypi-small pypi-large pypi-page; do load $doc $PYPI_TARGETS; done
fi

# ---- scenario 3: cold misses through the fake upstream ------------------------------------------
log "scenario 3: cold misses"
curlt() { curl -sS -o /dev/null --max-time 120 -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}' "$1"; }
cold() { # target base
  local t=$1 b=$2 i u d p
  M fetch "$b/bench-cold" >/dev/null && M fetch "$b/bench-coldlarge" >/dev/null || { note "$t: cold packuments failed"; return; }
  for i in $(seq 0 $((COLD - 1))); do
    u=bench-cold/-/bench-cold-1.0.$i.tgz
    d=$(curlt "$UP/$u") p=$(curlt "$b/$u")
    rec k=cold size=small "target=$t" "i=$i" "direct=$d" "proxied=$p"
  done
  for i in $(seq 0 $((COLDL - 1))); do
    u=bench-coldlarge/-/bench-coldlarge-1.0.$i.tgz
    d=$(curlt "$UP/$u") p=$(curlt "$b/$u")
    rec k=cold size=large "target=$t" "i=$i" "direct=$d" "proxied=$p"
  done
}
cold ours "$OURS/npm"
[ -n "$NORA" ] && cold nora "$NORA/npm"
[ -n "$VERD" ] && cold verdaccio "$VERD"
# The large cold miss must have been verified and kept: the next answer is a hit with the same bytes.
M fetch "$OURS/npm/bench-coldlarge/-/bench-coldlarge-1.0.0.tgz" --sha256 "$COLDL_SHA" --size "$LARGE" \
  >"$W/coldcheck.json" 2>&1 || note "cold large miss not served right afterwards: $(cat "$W/coldcheck.json")"

# ---- scenario 4: 100 concurrent misses of one file ----------------------------------------------
log "scenario 4: $HERD_N concurrent misses"
herd() { # target base
  local t=$1 b=$2 before after out
  M fetch "$b/bench-herd" >/dev/null || { note "$t: herd packument failed"; return; }
  before=$(upstream_count /bench-herd/-/bench-herd-1.0.0.tgz)
  out=$(M herd "$b/bench-herd/-/bench-herd-1.0.0.tgz" --n $HERD_N --sha256 "$HERD_SHA" --timeout 60)
  sleep 0.5
  after=$(upstream_count /bench-herd/-/bench-herd-1.0.0.tgz)
  rec k=herd "target=$t" "fetches=$((after - before))" "result=$out"
}
herd ours "$OURS/npm"
[ -n "$NORA" ] && herd nora "$NORA/npm"
[ -n "$VERD" ] && herd verdaccio "$VERD"

# ---- scenario 5: memory while rewriting a huge packument for the first time ---------------------
log "scenario 5: peak RSS while serving a $((HUGE / 1000000)) MB packument for the first time"
huge() { # target base pid
  local t=$1 b=$2 pid=$3 out
  M reset-hwm "$pid"
  if out=$(curl -sS -o /dev/null --max-time 300 -w '%{http_code} %{size_download} %{time_total}' "$b/bench-huge") && [ "${out%% *}" = 200 ]; then
    rec k=val name=huge_peak_rss_kb "target=$t" \
      "value=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['hwm_kb'])" "$(M rss "$pid")")" "detail=$out"
  else
    note "$t could not serve the huge packument: $out"
  fi
}
huge ours "$OURS/npm" "$PID_ours"
[ -n "$SOURS" ] && huge static "$SOURS/npm" "$PID_static"
[ -n "$NORA" ] && huge nora "$NORA/npm" "$PID_nora"
[ -n "$VERD" ] && huge verdaccio "$VERD" "$PID_verdaccio"
rec k=val name=after_rss_kb target=ours "value=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['rss_kb'])" "$(M rss "$PID_ours")")"

# ---- scenario 5b: three huge documents at once ---------------------------------------------------
log "scenario 5b: peak RSS while three $((MANYHUGE / 1000000)) MB packuments are rewritten at once"
M reset-hwm "$PID_ours"
many_ok=yes
many_pids=()
for i in 1 2 3; do
  curl -sS -o /dev/null --max-time 900 -w '%{http_code}\n' "$OURS/npm/bench-huge-$i" >"$W/many-$i.out" &
  many_pids+=($!)
done
wait "${many_pids[@]}" # not a bare wait: the servers are background jobs of this shell too
for i in 1 2 3; do [ "$(cat "$W/many-$i.out")" = 200 ] || many_ok=no; done
if [ $many_ok = yes ]; then
  rec k=val name=many_huge_peak_rss_kb target=ours \
    "value=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['hwm_kb'])" "$(M rss "$PID_ours")")" \
    "detail=3 x $MANYHUGE bytes"
else
  note "ours could not serve three huge packuments at once: $(cat "$W"/many-*.out | tr '\n' ' ')"
fi

# ---- scenario 5c: an install over a slow link with its metadata past the TTL ---------------------
log "scenario 5c: $DEPS packuments through an upstream 50 ms away, fresh and past their TTL"
read -r P_RELAY P_SLOW <<<"$(M ports 2)"
start relay "$W/relay.log" python3 "$B/measure.py" relay --port "$P_RELAY" --to "$UP" --ms 50
M wait "http://127.0.0.1:$P_RELAY/bench-dep-0" --timeout 20
start slow "$W/slow.log" env PROXY_UPSTREAM_NPM="http://127.0.0.1:$P_RELAY" PROXY_METADATA_TTL=${INSTALL_TTL}s \
  "$PROXY" serve -listen "127.0.0.1:$P_SLOW" -storage "$W/slow/artifacts" -database "$W/slow/proxy.db"
M wait "http://127.0.0.1:$P_SLOW/health" --timeout 20
install() { # label
  local r
  r=$(M install "http://127.0.0.1:$P_SLOW/npm" --n "$DEPS") || { note "install $1 failed"; return; }
  rec k=val name=install_seconds "target=$1" \
    "value=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['seconds'])" "$r")" \
    "detail=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['states'])" "$r")"
}
# The TTL outlasts the cold install (every packument is fresh for the second one); after the
# second, waiting one TTL puts all of them past it.
install cold
install fresh
sleep "$INSTALL_TTL"
install expired
stop_pid "$PID_slow"
stop_pid "$PID_relay"
# ---- scenario 7: a cached image pulled with skopeo, against the same pull from the registry -------
oci_pull() {
  if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
    note "docker-registry or skopeo missing: the image pull is not timed"
    return
  fi
  rec k=val name=oci_tools target=ours value=1
  log "scenario 7: a $((OCI >> 20)) MiB image pulled with skopeo, through the proxy and directly"
  mkdir -p "$W/registry"
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$W/registry/data" "$P_REG" >"$W/registry/config.yml"
  start registry "$W/registry.log" docker-registry serve "$W/registry/config.yml"
  M wait "http://127.0.0.1:$P_REG/v2/" --timeout 20 || { note "docker-registry did not start"; return; }
  local layout image reg_ref our_ref out t
  layout=$(man 'm["oci"]["layout"]')
  reg_ref=docker://127.0.0.1:$P_REG/bench/image:1
  our_ref=docker://127.0.0.1:$P_OURS/reg/bench/image:1
  export TMPDIR=$W
  skopeo copy --quiet --dest-tls-verify=false "oci:$layout:bench" "$reg_ref" >"$W/skopeo.log" 2>&1 ||
    { note "skopeo could not push the image: $(tail -1 "$W/skopeo.log")"; return; }
  # The first pull through the proxy fills its cache; the timed ones are hits.
  skopeo copy --quiet --src-tls-verify=false "$our_ref" "dir:$W/pull-warm" >"$W/skopeo.log" 2>&1 ||
    { note "skopeo could not pull through the proxy: $(tail -1 "$W/skopeo.log")"; return; }
  for t in ours registry; do
    image=$our_ref
    [ $t = registry ] && image=$reg_ref
    if out=$(M runs --runs "$OCIRUNS" --prepare "rm -rf '$W/pull'" -- \
      skopeo copy --quiet --src-tls-verify=false "$image" "dir:$W/pull" 2>"$W/runs.err"); then
      rec k=val name=oci_pull_s "target=$t" \
        "value=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['median_s'])" "$out")" \
        "detail=$((OCI >> 20)) MiB, $(man 'm["oci"]["layers"]') layers"
    else
      note "timing the pull from $t failed: $(tail -1 "$W/runs.err")"
    fi
  done
  stop_pid "$PID_registry"
}
oci_pull

# The peers are not needed any more; stopping them frees the machine for the start-up timings.
for t in static nora verdaccio proxpi devpi; do p=$(pid_of $t); [ -n "$p" ] && stop_pid "$p"; done

# ---- scenario 6: binary size, start-up with a large database, `proxy stats` ----------------------
log "scenario 6: binary, start-up with $SEED cached artifacts, proxy stats"
if [ -x "$STATIC" ] && [ "$MODE" = full ]; then
  rec k=val name=binary_bytes target=ours "value=$(stat -c %s "$STATIC")" "detail=$(file -b "$STATIC" 2>/dev/null | cut -d, -f1-2)"
else
  rec k=val name=binary_bytes target=ours-release "value=$(stat -c %s "$PROXY")" detail="release build (not static)"
fi
[ -x "$NORA_BIN" ] && rec k=val name=binary_bytes target=nora "value=$(stat -c %s "$NORA_BIN")"
[ -x "$(command -v nginx)" ] && rec k=val name=binary_bytes target=nginx "value=$(stat -c %s "$(command -v nginx)")"

SP=$(M ports 1)
startdb() { # dir rows: a database the proxy created, plus `rows` seeded artifacts (and their files)
  local d=$1 n=$2
  start seed "$W/seed.log" "$PROXY" serve -listen "127.0.0.1:$SP" -storage "$d/artifacts" -database "$d/proxy.db"
  M wait "http://127.0.0.1:$SP/health" --timeout 20
  stop_pid "$PID_seed"
  M seed "$d/proxy.db" "$d/artifacts" "$n"
}
startdb "$W/db1" 1
startdb "$W/dbN" "$SEED"
startup() { # label dir
  local out
  out=$(M startup --runs "$STARTRUNS" --url "http://127.0.0.1:$SP/npm/seed-0/-/seed-0-1.0.0.tgz" -- \
    env PROXY_OFFLINE=true "$PROXY" serve -listen "127.0.0.1:$SP" -storage "$2/artifacts" -database "$2/proxy.db")
  rec k=val name=startup_s "target=$1" "value=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['median_s'])" "$out")"
}
startup ours-1 "$W/db1"
startup ours-N "$W/dbN"
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 1 --runs $((STARTRUNS * 2)) --export-json "$W/stats.json" \
    "$PROXY stats -database $W/db1/proxy.db" "$PROXY stats -database $W/dbN/proxy.db" >/dev/null 2>&1 ||
    note "hyperfine failed"
  [ -f "$W/stats.json" ] && python3 - "$W/stats.json" >>"$RES" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
for label, x in zip(("ours-1", "ours-N"), r):
    print(json.dumps({"k": "val", "name": "stats_s", "target": label, "value": x["median"]}))
EOF
else
  note "hyperfine missing: proxy stats not timed"
fi
rec k=val name=seeded target=ours "value=$SEED"
rec k=machine_end "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report -------------------------------------------------------------------------------------
if [ "$MODE" = full ]; then
  python3 "$B/report.py" "$RES" --markdown "$OUT_MD"
  { echo "# bench/last-results.jsonl: raw results of the last full make bench; bench/report.py reads them"
    cat "$RES"; } >"$ROOT/bench/last-results.jsonl"
  log "wrote $OUT_MD"
else
  python3 "$B/report.py" "$RES" --check
fi
