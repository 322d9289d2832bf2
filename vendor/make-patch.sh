#!/bin/sh
# Writes vendor/tiny_http.patch: how vendor/tiny_http differs from the tiny_http crate as
# published on crates.io, file by file (`make vendor-patch`). The published crate is taken from
# cargo's download cache, or fetched into a scratch crate outside the repository when absent.
set -eu

VERSION=0.12.0
CARGO=${CARGO:-cargo}
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

crate_file() {
  ls "$CARGO_HOME"/registry/cache/*/"tiny_http-$VERSION.crate" 2>/dev/null | head -n 1
}

crate=$(crate_file || true)
if [ -z "$crate" ]; then
  # A crate of its own, so that our [patch.crates-io] does not replace the one we want.
  mkdir -p "$scratch/fetch/src"
  printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\ntiny_http = "=%s"\n' \
    "$VERSION" >"$scratch/fetch/Cargo.toml"
  : >"$scratch/fetch/src/lib.rs"
  (cd "$scratch/fetch" && "$CARGO" fetch --quiet)
  crate=$(crate_file)
fi
tar -xzf "$crate" -C "$scratch"
published="$scratch/tiny_http-$VERSION"

out="$here/tiny_http.patch"
{
  echo "How vendor/tiny_http differs from tiny_http $VERSION as published on crates.io (see"
  echo "vendor/README.md for why). Files of the published crate that are not vendored (README,"
  echo "CHANGELOG, examples, benches, tests) are left out. Written by vendor/make-patch.sh"
  echo "(make vendor-patch); applies to the published crate with patch -p1."
  echo
  cd "$here/tiny_http"
  find . -type f | sed 's|^\./||' | LC_ALL=C sort | while read -r rel; do
    old="$published/$rel"
    [ -f "$old" ] || old=/dev/null
    # diff exits 1 when the files differ, 2 on trouble.
    diff -u --label "a/$rel" --label "b/$rel" "$old" "$rel" || [ $? -eq 1 ]
  done
} >"$out.part"
mv "$out.part" "$out"
echo "wrote $out"
