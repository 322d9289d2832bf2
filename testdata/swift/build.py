#!/usr/bin/env python3
"""Builds the Swift registry fixtures: source archives of src/LinkedList as a registry serves
them (`swift package archive-source` layout: one top-level directory named after the package),
one per release, each with a VERSION file so that their checksums differ. No Swift toolchain is
needed: the registry protocol only asks for a zip. Entries are sorted and dated 1980-01-01 so a
rebuild gives the same bytes."""

import pathlib
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
SRC = HERE / "src" / "LinkedList"
VERSIONS = ["1.0.0", "1.1.1"]


def entry(z, name, data):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, data)


for version in VERSIONS:
    out = HERE / f"mona.LinkedList-{version}.zip"
    with zipfile.ZipFile(out, "w") as z:
        for path in sorted(p for p in SRC.rglob("*") if p.is_file()):
            entry(z, f"LinkedList/{path.relative_to(SRC).as_posix()}", path.read_bytes())
        entry(z, "LinkedList/VERSION", f"{version}\n".encode())
    print(out.name)
