#!/bin/sh
# Rebuilds the fixture gems from src/ and every index the fake upstream serves (needs ruby and
# gem, from Debian's `ruby` package):
#   gems/*.gem                          `gem build`, reproducible (SOURCE_DATE_EPOCH)
#   specs.4.8.gz, latest_specs.4.8.gz,  `gem generate_index` (the full index), with
#   prerelease_specs.4.8.gz,            quick/Marshal.4.8/*.gemspec.rz
#   versions, names, info/*             the compact index, by compact_index.rb; `info` lines carry
#                                       the SHA-256 of each .gem, `versions` the MD5 of each info
#   etags                               `path "md5"` per compact index file, as rubygems.org
#                                       sends them (Bundler <= 2.4 needs ETag = MD5 of the file)
set -e
cd "$(dirname "$0")"
export SOURCE_DATE_EPOCH=1704067200
rm -rf gems quick info specs.4.8.gz latest_specs.4.8.gz prerelease_specs.4.8.gz versions names etags
mkdir gems
for d in src/*/; do
  (cd "$d" && gem build --silent ./*.gemspec -o "../../gems/$(ruby -e 'print Gem::Specification.load(Dir["*.gemspec"][0]).file_name')")
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r gems "$tmp/"
gem generate_index --silent -d "$tmp"
cp "$tmp"/specs.4.8.gz "$tmp"/latest_specs.4.8.gz "$tmp"/prerelease_specs.4.8.gz .
mkdir -p quick/Marshal.4.8
cp "$tmp"/quick/Marshal.4.8/*.gemspec.rz quick/Marshal.4.8/
ruby compact_index.rb
