#!/bin/sh
# Builds the fixture boxes the Vagrant tests serve: a box is a gzipped tar of metadata.json
# (the provider it is for) and the provider's files, as `vagrant package` makes them. The
# `libvirt` provider lets `vagrant box add` take them without any hypervisor installed.
# Deterministic: fixed times, owners and order, gzip without a name or time.
set -eu
cd "$(dirname "$0")"
for version in 1.0.0 1.1.0; do
  dir=$(mktemp -d)
  printf '{"provider":"libvirt","format":"qcow2","virtual_size":1}\n' > "$dir/metadata.json"
  # 64 KiB that gzip cannot shrink, so that a resumed download has something to resume.
  python3 -c 'import random, sys; r = random.Random(sys.argv[1]); sys.stdout.buffer.write(r.randbytes(65536))' \
    "$version" > "$dir/box.img"
  printf 'Vagrant.configure("2") do |config|\nend\n' > "$dir/Vagrantfile"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" \
    -cf - Vagrantfile box.img metadata.json | gzip -9n > "fixture-$version-libvirt.box"
  rm -r "$dir"
done
sha256sum fixture-*.box
