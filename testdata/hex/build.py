#!/usr/bin/env python3
"""Rebuilds the Hex fixtures: release tarballs and the registry resources a Hex repository
serves for them, in the real formats (hex_core's tarball v3 and its protobuf messages,
gzipped and signed with RSA-SHA512 by `openssl` with a throwaway key whose public half is
`public_key`):

    tarballs/{name}-{version}.tar   VERSION, CHECKSUM, metadata.config, contents.tar.gz
    packages/{name}                 gzip(Signed{payload: Package{releases, name, repository}})
    names, versions                 gzip(Signed{payload: Names / Versions})
    public_key                      PEM

The protobuf is written by hand (a few lines) so that no protobuf library is needed.
"""

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# name, version, [(dependency, requirement)]
RELEASES = [
    ("proxy_fixture_a", "1.0.0", [("proxy_fixture_b", "~> 1.0")]),
    ("proxy_fixture_b", "1.0.0", []),
    ("proxy_fixture_b", "1.1.0", []),
]


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, value):
    """A length-delimited field (strings, bytes, messages)."""
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def vfield(number, value):
    return varint(number << 3) + varint(value)


def tar_bytes(files, compress):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    return gzip.compress(data, mtime=0) if compress else data


def erl(s):
    return '<<"%s">>' % s


def release_tarball(name, version, deps):
    contents = tar_bytes(
        [
            ("mix.exs", f'defmodule Fixture.MixProject do\n  use Mix.Project\n  def project, do: [app: :{name}, version: "{version}"]\nend\n'.encode()),
            (f"lib/{name}.ex", f"defmodule {name.title().replace('_', '')} do\n  def version, do: \"{version}\"\nend\n".encode()),
        ],
        compress=True,
    )
    reqs = ",".join(
        "{%s,[{<<\"app\">>,%s},{<<\"optional\">>,false},{<<\"repository\">>,<<\"hexpm\">>},{<<\"requirement\">>,%s}]}"
        % (erl(d), erl(d), erl(r))
        for d, r in deps
    )
    metadata = (
        f'{{<<"name">>,{erl(name)}}}.\n'
        f'{{<<"version">>,{erl(version)}}}.\n'
        f'{{<<"app">>,{erl(name)}}}.\n'
        f'{{<<"build_tools">>,[<<"mix">>]}}.\n'
        f'{{<<"description">>,<<"A fixture for the proxy\'s tests">>}}.\n'
        f'{{<<"files">>,[<<"lib">>,<<"lib/{name}.ex">>,<<"mix.exs">>]}}.\n'
        f'{{<<"licenses">>,[<<"MIT">>]}}.\n'
        f'{{<<"requirements">>,[{reqs}]}}.\n'
    ).encode()
    version_file = b"3"
    inner = hashlib.sha256(version_file + metadata + contents).digest()
    outer = tar_bytes(
        [
            ("VERSION", version_file),
            ("CHECKSUM", inner.hex().upper().encode()),
            ("metadata.config", metadata),
            ("contents.tar.gz", contents),
        ],
        compress=False,
    )
    return outer, inner, hashlib.sha256(outer).digest()


def sign(key, payload):
    with tempfile.NamedTemporaryFile() as f:
        f.write(payload)
        f.flush()
        return subprocess.run(
            ["openssl", "dgst", "-sha512", "-sign", key, f.name],
            check=True, capture_output=True,
        ).stdout


def signed(key, payload):
    return gzip.compress(field(1, payload) + field(2, sign(key, payload)), mtime=0)


def main():
    for d in ("tarballs", "packages"):
        os.makedirs(os.path.join(HERE, d), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        key = os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
        pem = subprocess.run(["openssl", "rsa", "-in", key, "-pubout"], check=True,
                             capture_output=True).stdout
        with open(os.path.join(HERE, "public_key"), "wb") as f:
            f.write(pem)
        releases = {}
        for name, version, deps in RELEASES:
            tar, inner, outer = release_tarball(name, version, deps)
            with open(os.path.join(HERE, "tarballs", f"{name}-{version}.tar"), "wb") as f:
                f.write(tar)
            dep_msgs = b"".join(
                field(3, field(1, d) + field(2, r) + field(5, "hexpm")) for d, r in deps
            )
            msg = field(1, version) + field(2, inner) + dep_msgs + field(5, outer)
            releases.setdefault(name, []).append((version, msg))
        names, versions = b"", b""
        for name, rels in sorted(releases.items()):
            package = b"".join(field(1, m) for _, m in rels) + field(2, name) + field(3, "hexpm")
            with open(os.path.join(HERE, "packages", name), "wb") as f:
                f.write(signed(key, package))
            names += field(1, field(1, name) + field(2, vfield(1, 1704067200)))
            versions += field(1, field(1, name) + b"".join(field(2, v) for v, _ in rels))
        for doc, body in (("names", names), ("versions", versions)):
            with open(os.path.join(HERE, doc), "wb") as f:
                f.write(signed(key, body + field(2, "hexpm")))


if __name__ == "__main__":
    main()
