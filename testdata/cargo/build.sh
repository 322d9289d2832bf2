#!/bin/sh
# Rebuilds the fixture crates (*.crate) and their index files (index/) from src/. Needs cargo and
# sha256sum, never the network: each crate is packaged against a local registry made of the crates
# built before it (this directory is one: index/ plus the .crate files), so the order below is the
# dependency order. The index lines carry `cksum` = SHA-256 of the .crate, as crates.io's do.
set -eu
cd "$(dirname "$0")"
here=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf index ./*.crate
mkdir -p index "$work/home"
export CARGO_HOME="$work/home" CARGO_TARGET_DIR="$work/target"
unset CARGO_NET_OFFLINE CARGO_REGISTRIES_CRATES_IO_PROTOCOL
cat >"$CARGO_HOME/config.toml" <<TOML
[source.crates-io]
replace-with = "fixtures"

[source.fixtures]
local-registry = "$here"
TOML

# The sparse-index path of a crate name (cargo's rule, on the lowercased name).
index_path() {
  n=$(printf %s "$1" | tr 'A-Z' 'a-z')
  case ${#n} in
  1) echo "1/$n" ;;
  2) echo "2/$n" ;;
  3) echo "3/$(echo "$n" | cut -c1)/$n" ;;
  *) echo "$(echo "$n" | cut -c1-2)/$(echo "$n" | cut -c3-4)/$n" ;;
  esac
}

dep() {
  printf '{"name":"%s","req":"%s","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}' "$1" "$2"
}

# crate DIR NAME VERSION DEPS-JSON
crate() {
  rm -rf "$work/src"
  cp -r "src/$1" "$work/src"
  (cd "$work/src" && cargo package --quiet --no-verify --allow-dirty)
  file="$2-$3.crate"
  cp "$CARGO_TARGET_DIR/package/$file" .
  sum=$(sha256sum "$file" | cut -d' ' -f1)
  path=index/$(index_path "$2")
  mkdir -p "$(dirname "$path")"
  printf '{"name":"%s","vers":"%s","deps":[%s],"cksum":"%s","features":{},"yanked":false}\n' \
    "$2" "$3" "$4" "$sum" >>"$path"
}

crate p p 1.0.0 ""
crate pb-1.0.0 pb 1.0.0 ""
crate pb-1.1.0 pb 1.1.0 "$(dep p ^1)"
crate pfa pfa 1.0.0 "$(dep pb ^1)"
crate Pf_Long Pf_Long 1.0.0 "$(dep p ^1)"
