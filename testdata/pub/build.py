#!/usr/bin/env python3
"""Rebuilds the pub fixture archives: gzipped tars laid out as pub.dev serves them (pubspec.yaml,
lib/, at the top). The tests build the version listings and their archive_sha256 from these
files, so nothing else needs regenerating. Deterministic: fixed times, owners and gzip header.

    python3 testdata/pub/build.py
"""

import gzip
import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))

# (name, version, dependencies)
PACKAGES = [
    ("proxy_fixture_a", "1.0.0", {"proxy_fixture_b": "^1.0.0"}),
    ("proxy_fixture_b", "1.0.0", {}),
    ("proxy_fixture_b", "1.1.0", {}),
]


def pubspec(name, version, deps):
    lines = [
        f"name: {name}",
        f"version: {version}",
        f"description: A fixture package for the proxy's tests ({name}).",
        "environment:",
        "  sdk: '>=3.0.0 <4.0.0'",
    ]
    if deps:
        lines.append("dependencies:")
        lines += [f"  {d}: {c}" for d, c in deps.items()]
    return "\n".join(lines) + "\n"


def main():
    for name, version, deps in PACKAGES:
        files = {
            "pubspec.yaml": pubspec(name, version, deps),
            f"lib/{name}.dart": f"const String version = '{version}';\n",
            "LICENSE": "MIT\n",
        }
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for path in sorted(files):
                data = files[path].encode()
                info = tarfile.TarInfo(path)
                info.size = len(data)
                info.mtime = 1704067200
                info.mode = 0o644
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
        out = os.path.join(HERE, f"{name}-{version}.tar.gz")
        with open(out, "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(raw.getvalue())


if __name__ == "__main__":
    main()
