#!/bin/sh
# Builds the fixture cookbook tarballs the Chef tests serve, laid out as Supermarket stores them
# (`{name}/metadata.json` and the cookbook's files under one top directory), with tar and gzip:
# no Chef tooling installs here. Deterministic: fixed times, owners and order, gzip without a
# name or time.
set -eu
cd "$(dirname "$0")"
cookbook() { # name version depends-json
  dir=$(mktemp -d)
  mkdir -p "$dir/$1/recipes"
  printf '{"name":"%s","version":"%s","description":"A fixture cookbook for the proxy'"'"'s tests.","license":"Apache-2.0","dependencies":%s}\n' \
    "$1" "$2" "$3" > "$dir/$1/metadata.json"
  printf "name '%s'\nversion '%s'\n" "$1" "$2" > "$dir/$1/metadata.rb"
  printf "log 'fixture %s %s'\n" "$1" "$2" > "$dir/$1/recipes/default.rb"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf - "$1" \
    | gzip -9n > "$1-$2.tar.gz"
  rm -r "$dir"
}
cookbook proxy_fixture_a 1.0.0 '{"proxy_fixture_b":">= 1.0"}'
cookbook proxy_fixture_b 1.0.0 '{}'
cookbook proxy_fixture_b 1.1.0 '{}'
sha256sum ./*.tar.gz
