#!/usr/bin/env python3
"""Builds proxy-fixture-native 2.0.0: one sdist and a wheel for each of many platforms and
CPython versions, as a package with a compiled extension ships on PyPI, deterministically and
without network. The tests build it into a temp directory (nothing here is committed but this
script): usage: python3 build_platforms.py OUTDIR [PAYLOAD_BYTES]

Each wheel holds the package and a stand-in for its compiled extension, PAYLOAD_BYTES (default
65536) of deterministic, incompressible bytes that differ per wheel, stored uncompressed: so the
wheels weigh what their count says, and each has its own digest. One pure wheel is built, then
retagged for each platform the way `python3 -m wheel tags --python-tag … --abi-tag …
--platform-tag …` does it (new name, `Tag:` lines in WHEEL, RECORD rewritten). Every wheel gets
its PEP 658 sidecar (`{wheel}.metadata`, its METADATA byte for byte).
"""

import hashlib
import io
import os
import sys
import zipfile

# The helpers of the other fixtures' script (this directory's build.py), imported without
# leaving a __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build  # noqa: E402

NAME = "proxy-fixture-native"
DIST = "proxy_fixture_native"
VERSION = "2.0.0"

PYTHONS = ["cp39", "cp310", "cp311", "cp312", "cp313"]
PLATFORMS = [
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_2_x86_64",
    "musllinux_1_2_aarch64",
    "macosx_10_9_x86_64",
    "macosx_11_0_arm64",
    "win_amd64",
    "win32",
]


def metadata():
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\nVersion: {VERSION}\n"
        "Summary: a fixture with wheels for many platforms, for the caching proxy's tests\n"
        "Requires-Python: >=3.9\n"
    ).encode()


def payload(tag, size):
    """Deterministic bytes for one wheel: SHA-256 in counter mode over the tag."""
    out = bytearray()
    n = 0
    while len(out) < size:
        out += hashlib.sha256(f"{tag}:{n}".encode()).digest()
        n += 1
    return bytes(out[:size])


def entry(path, compress=True):
    info = build.zip_entry(path)
    if not compress:
        info.compress_type = zipfile.ZIP_STORED
    return info


def wheel(out, py, plat, size):
    tag = f"{py}-{py}-{plat}"
    info = f"{DIST}-{VERSION}.dist-info"
    tags = "".join(f"Tag: {py}-{py}-{p}\n" for p in plat.split("."))
    files = [
        (f"{DIST}/__init__.py", f'VERSION = "{VERSION}"\nTAG = "{tag}"\n'.encode(), True),
        (f"{DIST}/_native.bin", payload(tag, size), False),
        (f"{info}/METADATA", metadata(), True),
        (f"{info}/WHEEL",
         f"Wheel-Version: 1.0\nGenerator: proxy-fixture-build\nRoot-Is-Purelib: false\n{tags}".encode(),
         True),
    ]
    record = "".join(f"{p},{build.record_hash(d)},{len(d)}\n" for p, d, _ in files) + f"{info}/RECORD,,\n"
    files.append((f"{info}/RECORD", record.encode(), True))
    name = f"{DIST}-{VERSION}-{tag}.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path, data, compress in files:
            z.writestr(entry(path, compress), data)
    write(out, name, buf.getvalue())
    write(out, name + ".metadata", metadata())


def sdist(out):
    root = f"{DIST}-{VERSION}"
    files = [
        (f"{root}/PKG-INFO", metadata()),
        (f"{root}/pyproject.toml", b'[build-system]\nrequires = ["setuptools"]\n'),
        (f"{root}/{DIST}/__init__.py", f'VERSION = "{VERSION}"\n'.encode()),
    ]
    write(out, f"{root}.tar.gz", build.targz(files))


def write(out, name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) == 3 else 65536
    os.makedirs(out, exist_ok=True)
    sdist(out)
    for py in PYTHONS:
        for plat in PLATFORMS:
            wheel(out, py, plat, size)
