#!/usr/bin/env bash
# Owns the installation of what the benchmark compares against: wrk, hyperfine and nginx (Debian),
# NORA (crates.io, nora-registry), Verdaccio (npm) and proxpi + devpi-server (PyPI), all cached
# outside the repository in $BENCH_TOOLS. Prints one `missing: ...` line per tool it could not
# provide, saying what was tried; never fails the run for a missing peer.
#
# usage: bench/install.sh [--smoke]     (--smoke: only the Debian tools the smoke run needs)
set -uo pipefail

TOOLS=${BENCH_TOOLS:?BENCH_TOOLS must be set}
NORA_VERSION=${NORA_VERSION:-1.4.3}
VERDACCIO_VERSION=${VERDACCIO_VERSION:-6.8.0}
mkdir -p "$TOOLS"
export DEBIAN_FRONTEND=noninteractive

say() { echo "install: $*" >&2; }
missing() { echo "missing: $*"; }

apt_updated=no
apt_get() {
  command -v apt-get >/dev/null || return 1
  [ "$(id -u)" = 0 ] || return 1
  if [ "$apt_updated" = no ]; then
    timeout 300 apt-get update -qq >/dev/null 2>&1 || return 1
    apt_updated=yes
  fi
  timeout 600 apt-get install -y -qq "$@" >/dev/null 2>&1
}

# Debian tools. nginx-light is enough (static files); the Debian package does not start a
# server when installed in a container without an init system, and we never use its service.
need_debian() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null && return 0
  say "installing $pkg (apt-get)"
  apt_get "$pkg"
  command -v "$cmd" >/dev/null || missing "$cmd (Debian package $pkg; tried: apt-get install -y $pkg)"
}
need_debian wrk wrk
need_debian nginx nginx-light
need_debian curl curl
[ "${1:-}" = --smoke ] && exit 0
need_debian hyperfine hyperfine

# NORA: `cargo install nora-registry`. Versions whose build script downloads Swagger UI from
# GitHub get it from the npm package swagger-ui-dist of the same version instead, unpacked into
# swagger-ui-<version>/dist/ and zipped, handed over with SWAGGER_UI_DOWNLOAD_URL=file://...
# (1.4.3 has no such build script; the fallback is kept for other versions).
install_nora() {
  local bin=$TOOLS/nora/bin/nora
  [ -x "$bin" ] && return 0
  command -v cargo >/dev/null || { missing "NORA (needs cargo)"; return; }
  say "building NORA $NORA_VERSION with cargo install (several minutes)"
  local log=$TOOLS/nora-install.log
  if ! nice -n 10 cargo install --root "$TOOLS/nora" --version "$NORA_VERSION" nora-registry \
      >"$log" 2>&1; then
    if grep -q "swagger" "$log"; then
      local sv
      sv=$(grep -o 'swagger-ui/archive/refs/tags/v[0-9.]*' "$log" | head -1 | grep -o '[0-9][0-9.]*[0-9]')
      sv=${sv:-5.17.14}
      say "NORA wants Swagger UI $sv: packing it from npm's swagger-ui-dist@$sv"
      local d=$TOOLS/swagger
      rm -rf "$d" && mkdir -p "$d/swagger-ui-$sv" &&
        (cd "$d" && npm pack --silent "swagger-ui-dist@$sv" >/dev/null &&
          tar xzf swagger-ui-dist-"$sv".tgz && mv package "swagger-ui-$sv/dist" &&
          python3 -m zipfile -c "swagger-ui-$sv.zip" "swagger-ui-$sv") >>"$log" 2>&1 &&
        SWAGGER_UI_DOWNLOAD_URL="file://$d/swagger-ui-$sv.zip" nice -n 10 cargo install \
          --root "$TOOLS/nora" --version "$NORA_VERSION" nora-registry >>"$log" 2>&1
    fi
  fi
  [ -x "$bin" ] || missing "NORA $NORA_VERSION (cargo install nora-registry failed; see $log)"
}

install_verdaccio() {
  local d=$TOOLS/verdaccio
  [ -x "$d/node_modules/.bin/verdaccio" ] && return 0
  command -v npm >/dev/null || { missing "Verdaccio (needs node and npm)"; return; }
  say "installing Verdaccio $VERDACCIO_VERSION (npm)"
  mkdir -p "$d"
  # Newer Verdaccio wants Node 22; 6.8.0 runs on Node 20 once node-fetch is held at 2.7.0.
  cat >"$d/package.json" <<EOF
{ "name": "bench-verdaccio", "private": true,
  "dependencies": { "verdaccio": "$VERDACCIO_VERSION" },
  "overrides": { "node-fetch": "2.7.0" } }
EOF
  (cd "$d" && timeout 600 npm install --no-audit --no-fund --silent) >"$TOOLS/verdaccio-install.log" 2>&1
  [ -x "$d/node_modules/.bin/verdaccio" ] ||
    missing "Verdaccio $VERDACCIO_VERSION (npm install failed; see $TOOLS/verdaccio-install.log)"
}

install_python_peers() {
  local v=$TOOLS/pyenv
  if [ ! -x "$v/bin/proxpi" ] && [ ! -x "$v/bin/devpi-server" ] || [ ! -x "$v/bin/gunicorn" ]; then
    say "installing proxpi, devpi-server and gunicorn (pip, in $v)"
    { python3 -m venv "$v" && timeout 600 "$v/bin/pip" install -q proxpi devpi-server gunicorn; } \
      >"$TOOLS/pip-install.log" 2>&1
  fi
  "$v/bin/python" -c "import proxpi" 2>/dev/null ||
    missing "proxpi (pip install proxpi failed; see $TOOLS/pip-install.log)"
  [ -x "$v/bin/devpi-server" ] ||
    missing "devpi-server (pip install devpi-server failed; see $TOOLS/pip-install.log)"
}

install_verdaccio
install_python_peers
install_nora
exit 0
