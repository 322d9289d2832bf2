#!/bin/sh
# Builds a signed APT repository in $1 with Debian's own tools, for tests/it/debian.rs:
#   $1/repo/    the archive: pool/ with two packages (proxy-hello 2:1.2-3 depends on proxy-dep),
#               dists/stable/ with Packages (plain, .gz, .xz, and by hash), Release, InRelease
#               and Release.gpg, signed by a throwaway key (Acquire-By-Hash: yes, as Debian's)
#   $1/key.gpg  the public key, for `signed-by=`
# Needs dpkg-deb, apt-ftparchive (apt-utils), gpg, xz and gzip. Takes well under a second.
set -eu
out=$1
arch=${2:-$(dpkg --print-architecture)}
repo=$out/repo
mkdir -p "$repo/pool/main/p" "$repo/dists/stable/main/binary-$arch" "$out/build"
for spec in proxy-dep:1.0-1 proxy-hello:2:1.2-3; do
  name=${spec%%:*}
  version=${spec#*:}
  root=$out/build/$name
  mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$name"
  echo "hello from $name" > "$root/usr/share/doc/$name/README"
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: Proxy Tests <tests@example.com>"
    [ "$name" = proxy-hello ] && echo "Depends: proxy-dep (>= 1.0)"
    echo "Description: $name, a package for the proxy's tests"
  } > "$root/DEBIAN/control"
  mkdir -p "$repo/pool/main/p/$name"
  dpkg-deb -Zxz --root-owner-group --build "$root" "$repo/pool/main/p/$name/" > /dev/null
done
cd "$repo"
bin=dists/stable/main/binary-$arch
# Debian's archive publishes MD5 and SHA-256 only, so APT asks for SHA256 by-hash names.
nosha="-o APT::FTPArchive::SHA1=false -o APT::FTPArchive::SHA512=false"
apt-ftparchive $nosha packages pool/main > "$bin/Packages"
xz -k "$bin/Packages"
gzip -nk "$bin/Packages"
mkdir -p "$bin/by-hash/SHA256"
for f in "$bin"/Packages*; do
  cp "$f" "$bin/by-hash/SHA256/$(sha256sum "$f" | cut -d' ' -f1)"
done
apt-ftparchive $nosha \
  -o APT::FTPArchive::Release::Origin=ProxyTests \
  -o APT::FTPArchive::Release::Suite=stable \
  -o APT::FTPArchive::Release::Codename=stable \
  -o APT::FTPArchive::Release::Components=main \
  -o "APT::FTPArchive::Release::Architectures=$arch" \
  -o APT::FTPArchive::Release::Acquire-By-Hash=yes \
  release dists/stable > "$out/Release"
mv "$out/Release" dists/stable/Release
export GNUPGHOME="$out/gnupg"
mkdir -m 700 -p "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "Proxy Tests <tests@example.com>" ed25519 sign never
gpg --batch --quiet --yes --clearsign -o dists/stable/InRelease dists/stable/Release
gpg --batch --quiet --yes -abs -o dists/stable/Release.gpg dists/stable/Release
gpg --batch --quiet --export > "$out/key.gpg"
gpgconf --kill gpg-agent 2>/dev/null || true
