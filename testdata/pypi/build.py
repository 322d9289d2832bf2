#!/usr/bin/env python3
"""Rebuilds the PyPI fixture packages in this directory, deterministically and without network.

- proxy_fixture_a-1.0.0-py3-none-any.whl   (Requires-Dist: proxy-fixture-b>=1.0), with its PEP 658
  sidecar proxy_fixture_a-1.0.0-py3-none-any.whl.metadata
- proxy_fixture_b-1.0.0.tar.gz              (sdist only: clients must build it)
- proxy_fixture_b-1.1.0-py3-none-any.whl (+ .metadata) and proxy_fixture_b-1.1.0.tar.gz

The sdists carry their own tiny PEP 517 build backend (backend-path = ["."]) so that pip and uv
can build them with build isolation and no index to fetch setuptools from. The tests compute
hashes from these files, so nothing else needs regenerating. Usage: python3 build.py
"""

import base64
import gzip
import hashlib
import io
import os
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCH = (1980, 1, 1, 0, 0, 0)

# The in-tree backend shipped in every sdist. It writes a wheel with zipfile, nothing else.
BACKEND = '''"""A minimal PEP 517 backend for the proxy's test fixtures: no dependencies, no network."""
import base64, hashlib, os, zipfile

def _meta():
    with open("PKG-INFO", encoding="utf-8") as f:
        text = f.read()
    fields = dict(l.split(": ", 1) for l in text.splitlines() if ": " in l)
    return text, fields["Name"], fields["Version"]

def _dist(name):
    return name.replace("-", "_").lower()

def get_requires_for_build_wheel(config_settings=None):
    return []

def get_requires_for_build_sdist(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    text, name, version = _meta()
    dist = _dist(name)
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": open(f"{dist}/__init__.py", "rb").read(),
        f"{info}/METADATA": text.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: fixture-backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\\n"
    record += f"{info}/RECORD,,\\n"
    files[f"{info}/RECORD"] = record.encode()
    wheel = f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return wheel

def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError("fixture sdists are prebuilt")
'''


def metadata(name, version, requires):
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
             f"Summary: {name} test fixture for the caching proxy", "Requires-Python: >=3.7"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return ("\n".join(lines) + "\n").encode()


def dist_name(name):
    return name.replace("-", "_")


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def zip_entry(path):
    info = zipfile.ZipInfo(path, date_time=EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def wheel(name, version, requires):
    dist = dist_name(name)
    info = f"{dist}-{version}.dist-info"
    meta = metadata(name, version, requires)
    files = [
        (f"{dist}/__init__.py", f'VERSION = "{version}"\n'.encode()),
        (f"{info}/METADATA", meta),
        (f"{info}/WHEEL",
         b"Wheel-Version: 1.0\nGenerator: proxy-fixture-build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = "".join(f"{p},{record_hash(d)},{len(d)}\n" for p, d in files) + f"{info}/RECORD,,\n"
    files.append((f"{info}/RECORD", record.encode()))
    filename = f"{dist}-{version}-py3-none-any.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path, data in files:
            z.writestr(zip_entry(path), data)
    write(filename, buf.getvalue())
    # PEP 658: the sidecar is the wheel's METADATA file, byte for byte.
    write(filename + ".metadata", meta)


def sdist(name, version, requires):
    dist = dist_name(name)
    root = f"{dist}-{version}"
    meta = metadata(name, version, requires)
    pyproject = (
        '[build-system]\nrequires = []\nbuild-backend = "fixture_backend"\nbackend-path = ["."]\n'
    ).encode()
    files = [
        (f"{root}/PKG-INFO", meta),
        (f"{root}/pyproject.toml", pyproject),
        (f"{root}/fixture_backend.py", BACKEND.encode()),
        (f"{root}/{dist}/__init__.py", f'VERSION = "{version}"\n'.encode()),
    ]
    write(f"{root}.tar.gz", targz(files))


def targz(files):
    """A reproducible .tar.gz of (path, bytes): no times, owners or names that vary."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in files:
            ti = tarfile.TarInfo(path)
            ti.size, ti.mtime, ti.mode = len(data), 0, 0o644
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            t.addfile(ti, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as g:
        g.write(raw.getvalue())
    return out.getvalue()


def write(filename, data):
    with open(os.path.join(HERE, filename), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    wheel("proxy-fixture-a", "1.0.0", ["proxy-fixture-b>=1.0"])
    sdist("proxy-fixture-b", "1.0.0", [])
    wheel("proxy-fixture-b", "1.1.0", [])
    sdist("proxy-fixture-b", "1.1.0", [])
