#!/usr/bin/env python3
"""Builds the Go module proxy fixtures: testdata/go/proxy/ is a static GOPROXY tree
({encoded module}/@v/list, {encoded version}.info, .mod, .zip) made from the sources in
testdata/go/src/. The test's fake upstream serves every file under proxy/ at its relative path.

Deterministic: entries are sorted, stored uncompressed, dated 1980-01-01, mode 0644, so a rebuild
gives byte-identical zips. Run from anywhere: python3 testdata/go/build.py
"""

import json
import os
import shutil
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))

# (module path, version, source directory under src/, commit time)
MODULES = [
    ("example.com/liba", "v1.0.0", "liba-v1.0.0", "2024-01-01T00:00:00Z"),
    ("example.com/Upper/libb", "v1.0.0", "libb-v1.0.0", "2024-01-01T00:00:00Z"),
    ("example.com/Upper/libb", "v1.1.0-RC.1", "libb-v1.1.0-RC.1", "2024-02-01T00:00:00Z"),
]


def encode(s):
    """The GOPROXY case encoding: every uppercase letter becomes '!' and its lowercase."""
    return "".join("!" + c.lower() if c.isupper() else c for c in s)


def module_zip(path, module, version, src):
    """A module zip: every file of src under '{module}@{version}/'."""
    files = []
    for root, _dirs, names in os.walk(src):
        for name in names:
            full = os.path.join(root, name)
            files.append(os.path.relpath(full, src).replace(os.sep, "/"))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for rel in sorted(files):
            info = zipfile.ZipInfo(f"{module}@{version}/{rel}", date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o644 << 16
            with open(os.path.join(src, rel), "rb") as f:
                z.writestr(info, f.read())


def main():
    out = os.path.join(HERE, "proxy")
    shutil.rmtree(out, ignore_errors=True)
    versions = {}
    for module, version, srcdir, time in MODULES:
        src = os.path.join(HERE, "src", srcdir)
        vdir = os.path.join(out, encode(module), "@v")
        os.makedirs(vdir, exist_ok=True)
        base = os.path.join(vdir, encode(version))
        with open(base + ".info", "w") as f:
            f.write(json.dumps({"Version": version, "Time": time}) + "\n")
        shutil.copyfile(os.path.join(src, "go.mod"), base + ".mod")
        module_zip(base + ".zip", module, version, src)
        versions.setdefault(module, []).append(version)
    for module, vs in versions.items():
        with open(os.path.join(out, encode(module), "@v", "list"), "w") as f:
            f.write("".join(v + "\n" for v in vs))


if __name__ == "__main__":
    main()
