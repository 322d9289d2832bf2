#!/bin/sh
# Builds the Terraform provider fixtures as a provider release is published (goreleaser's
# layout, which the registries require): terraform-provider-hello 1.0.0 for linux_amd64 and
# darwin_arm64, each zip holding the executable terraform-provider-hello_v1.0.0; a SHA256SUMS
# file (sha256sum); and its detached signature (gpg) by a throwaway key whose public half is
# signing-key.asc, as a registry's download document carries it. No Terraform needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
v=1.0.0
cd "$here"
rm -f terraform-provider-hello_*
for platform in linux_amd64 darwin_arm64; do
    python3 - "$v" "$platform" <<'PY'
import sys, zipfile
v, platform = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo(f"terraform-provider-hello_v{v}", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = 0o755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with zipfile.ZipFile(f"terraform-provider-hello_{v}_{platform}.zip", "w") as z:
    z.writestr(info, f"#!/bin/sh\necho 'terraform-provider-hello {v} ({platform}): a fixture'\n")
PY
done
sha256sum terraform-provider-hello_${v}_*.zip > terraform-provider-hello_${v}_SHA256SUMS
export GNUPGHOME="$work"
gpg --batch --quiet --passphrase '' --quick-gen-key 'proxy tests <tests@example.invalid>' ed25519 sign never
gpg --batch --quiet --armor --export > signing-key.asc
gpg --batch --quiet --detach-sign --output terraform-provider-hello_${v}_SHA256SUMS.sig terraform-provider-hello_${v}_SHA256SUMS
ls
