#!/bin/sh
# Rebuilds the Helm fixture repository from src/fixture as `helm package` and `helm repo index`
# would lay it out (helm is not a Debian package, so tar and gzip stand in for `helm package`):
#   repo/fixture-{0.1.0,0.2.0}.tgz   the chart at two versions (Chart.yaml written per version)
#   repo/fixture-0.1.0.tgz.prov      a stand-in provenance file (the proxy relays it unread)
#   repo/index.yaml                  the index, keys sorted as helm writes them, with digests
# Timestamps and owners are fixed, so the archives are the same on every run.
set -e
cd "$(dirname "$0")"
rm -rf repo
mkdir repo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for v in 0.1.0 0.2.0; do
  rm -rf "$tmp/fixture"
  cp -r src/fixture "$tmp/fixture"
  printf 'apiVersion: v2\nname: fixture\ndescription: A chart for the proxy tests\nversion: %s\nappVersion: "1.10"\n' "$v" >"$tmp/fixture/Chart.yaml"
  tar -C "$tmp" --sort=name --mtime=@1704067200 --owner=0 --group=0 --numeric-owner \
    -cf - fixture | gzip -n -9 >"repo/fixture-$v.tgz"
done
printf -- '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: fixture\nversion: 0.1.0\n-----BEGIN PGP SIGNATURE-----\nnot a real signature\n-----END PGP SIGNATURE-----\n' >repo/fixture-0.1.0.tgz.prov
digest() { sha256sum "repo/$1" | cut -d' ' -f1; }
{
  echo 'apiVersion: v1'
  echo 'entries:'
  echo '  fixture:'
  for v in 0.2.0 0.1.0; do
    echo '  - apiVersion: v2'
    echo '    appVersion: "1.10"'
    echo '    created: "2024-01-01T00:00:00Z"'
    echo '    description: A chart for the proxy tests'
    echo "    digest: $(digest "fixture-$v.tgz")"
    echo '    name: fixture'
    echo '    urls:'
    echo "    - fixture-$v.tgz"
    echo "    version: $v"
  done
  echo 'generated: "2024-01-01T00:00:00Z"'
} >repo/index.yaml
