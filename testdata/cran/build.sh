#!/bin/sh
# Rebuilds the CRAN fixture repository from src/ (needs R, Debian's `r-base-core`):
#   src/contrib/{name}_{version}.tar.gz       `R CMD build` of the current versions
#   src/contrib/Archive/{name}/*.tar.gz       older versions, where CRAN moves them
#   src/contrib/PACKAGES{,.gz,.rds}           `tools::write_PACKAGES`, as CRAN serves them
# SOURCE_DATE_EPOCH keeps the `Packaged:` stamp fixed; the tarballs still carry file times.
set -e
cd "$(dirname "$0")"
export SOURCE_DATE_EPOCH=1704067200
rm -rf repo
mkdir -p repo/src/contrib/Archive/fixturedep
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in src/*/; do
  name=$(sed -n 's/^Package: //p' "$d/DESCRIPTION")
  cp -r "$d" "$tmp/$name"
  (cd "$tmp" && R CMD build --no-build-vignettes --no-manual "$name" >/dev/null && rm -rf "$name")
done
mv "$tmp"/fixturedep_0.9.0.tar.gz repo/src/contrib/Archive/fixturedep/
mv "$tmp"/*.tar.gz repo/src/contrib/
Rscript -e 'tools::write_PACKAGES("repo/src/contrib", type = "source")'
