#!/bin/sh
# Builds an RPM repository in $1/repo with RPM's own tools, for tests/it/rpm.rs: two noarch
# packages built by rpmbuild (proxy-hello 1.2-3 requires proxy-dep; proxy-dep has epoch 1) under
# Packages/, and repodata/ by createrepo_c (checksum-named files, as Fedora's). Needs rpmbuild
# (rpm) and createrepo_c (createrepo-c). Takes about a second.
set -eu
out=$1
top=$out/rpmbuild
repo=$out/repo
mkdir -p "$top/SPECS" "$repo/Packages"
for spec in proxy-dep:1:1.0:1 proxy-hello:0:1.2:3; do
  IFS=: read -r name epoch version release <<END
$spec
END
  requires=""
  [ "$name" = proxy-hello ] && requires="Requires: proxy-dep >= 1.0"
  cat > "$top/SPECS/$name.spec" <<END
Name: $name
Epoch: $epoch
Version: $version
Release: $release
Summary: $name, a package for the proxy's tests
License: MIT
BuildArch: noarch
$requires

%description
$name, a package for the proxy's tests.

%install
mkdir -p %{buildroot}/usr/share/doc/$name
echo "hello from $name" > %{buildroot}/usr/share/doc/$name/README

%files
/usr/share/doc/$name/README
END
  rpmbuild --quiet --define "_topdir $top" --define "_build_id_links none" -bb "$top/SPECS/$name.spec"
done
cp "$top"/RPMS/noarch/*.rpm "$repo/Packages/"
createrepo_c --quiet --no-database "$repo" > /dev/null
