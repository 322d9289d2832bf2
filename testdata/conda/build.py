#!/usr/bin/env python3
"""Rebuilds the conda fixture channel `proxy-fixtures` (standard library only, reproducible).

    proxy-fixtures/noarch/proxy-fixture-a-1.0.0-0.tar.bz2    noarch: generic, depends on b >=1.0
    proxy-fixtures/linux-64/proxy-fixture-b-1.0.0-0.tar.bz2
    proxy-fixtures/linux-64/proxy-fixture-b-1.1.0-0.conda    the newer format (zip of .tar.zst)
    proxy-fixtures/{noarch,linux-64}/repodata.json          what `conda index` writes, in short
    proxy-fixtures/channeldata.json

A `.tar.bz2` package is a bzip2 tar of info/index.json, info/paths.json, info/files and the
payload. A `.conda` package is an uncompressed zip of metadata.json, info-{stem}.tar.zst and
pkg-{stem}.tar.zst. Python has no zstd compressor before 3.14, so the zstd frames here are
written by hand with raw (stored) blocks, which every zstd decoder reads.
"""

import bz2
import hashlib
import io
import json
import os
import struct
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHANNEL = "proxy-fixtures"
EPOCH = 1704067200  # 2024-01-01, in every mtime and in repodata `timestamp` (milliseconds)

PACKAGES = [
    # (name, version, subdir, depends, extension)
    ("proxy-fixture-a", "1.0.0", "noarch", ["proxy-fixture-b >=1.0"], ".tar.bz2"),
    ("proxy-fixture-b", "1.0.0", "linux-64", [], ".tar.bz2"),
    ("proxy-fixture-b", "1.1.0", "linux-64", [], ".conda"),
]


def tar(files):
    """A reproducible tar of (path, bytes), in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = EPOCH
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zstd_stored(data):
    """One zstd frame of raw blocks (RFC 8878): magic, a header with the content size, blocks."""
    out = bytearray(struct.pack("<I", 0xFD2FB528))
    # Frame header descriptor: single segment (no window descriptor), 8-byte content size.
    out.append(0b1110_0000)
    out += struct.pack("<Q", len(data))
    max_block = 128 * 1024
    chunks = [data[i : i + max_block] for i in range(0, len(data), max_block)] or [b""]
    for i, chunk in enumerate(chunks):
        last = 1 if i == len(chunks) - 1 else 0
        header = (len(chunk) << 3) | (0 << 1) | last  # block type 0 = raw
        out += struct.pack("<I", header)[:3]
        out += chunk
    return bytes(out)


def package(name, version, subdir, depends, ext):
    build = "0"
    payload_path = f"share/{name}/VERSION"
    payload = f"{name} {version}\n".encode()
    index = {
        "arch": None,
        "build": build,
        "build_number": 0,
        "depends": depends,
        "license": "MIT",
        "name": name,
        "platform": None if subdir == "noarch" else "linux",
        "subdir": subdir,
        "timestamp": EPOCH * 1000,
        "version": version,
    }
    if subdir == "noarch":
        index["noarch"] = "generic"
    else:
        index["arch"] = "x86_64"
    paths = {
        "paths": [
            {
                "_path": payload_path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(payload).hexdigest(),
                "size_in_bytes": len(payload),
            }
        ],
        "paths_version": 1,
    }
    info = [
        ("info/index.json", json.dumps(index, indent=2, sort_keys=True).encode()),
        ("info/paths.json", json.dumps(paths, indent=2, sort_keys=True).encode()),
        ("info/files", (payload_path + "\n").encode()),
    ]
    stem = f"{name}-{version}-{build}"
    if ext == ".tar.bz2":
        body = bz2.compress(tar(info + [(payload_path, payload)]), 9)
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for arcname, data in [
                ("metadata.json", json.dumps({"conda_pkg_format_version": 2}).encode()),
                (f"pkg-{stem}.tar.zst", zstd_stored(tar([(payload_path, payload)]))),
                (f"info-{stem}.tar.zst", zstd_stored(tar(info))),
            ]:
                z.writestr(zipfile.ZipInfo(arcname, date_time=(2024, 1, 1, 0, 0, 0)), data)
        body = buf.getvalue()
    filename = stem + ext
    os.makedirs(os.path.join(HERE, CHANNEL, subdir), exist_ok=True)
    with open(os.path.join(HERE, CHANNEL, subdir, filename), "wb") as f:
        f.write(body)
    record = dict(index)
    record.update(
        md5=hashlib.md5(body).hexdigest(),
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
    )
    return subdir, filename, ext, record


def main():
    repodata = {}
    for p in PACKAGES:
        subdir, filename, ext, record = package(*p)
        doc = repodata.setdefault(
            subdir,
            {
                "info": {"subdir": subdir},
                "packages": {},
                "packages.conda": {},
                "removed": [],
                "repodata_version": 1,
            },
        )
        doc["packages.conda" if ext == ".conda" else "packages"][filename] = record
    for subdir, doc in repodata.items():
        with open(os.path.join(HERE, CHANNEL, subdir, "repodata.json"), "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")
    channeldata = {
        "channeldata_version": 1,
        "packages": {
            name: {"version": version, "subdirs": [subdir], "license": "MIT"}
            for name, version, subdir, _, _ in PACKAGES
        },
        "subdirs": sorted(repodata),
    }
    with open(os.path.join(HERE, CHANNEL, "channeldata.json"), "w") as f:
        json.dump(channeldata, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
