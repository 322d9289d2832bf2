#!/usr/bin/env python3
# Owns the fixtures of bench/airgap.sh: an npm registry laid out for nginx (`/{name}/index.json`
# packuments, `/{name}/-/{name}-{version}.tgz` tarballs) and a CycloneDX SBOM per set listing
# every version. Small sets: packages of 10 versions of 4 KiB tarballs (distinct bytes, so every
# digest differs). The large set: 1 GiB tarballs as sparse files with a distinct first block, so
# the upstream costs no disk while the proxy stores real bytes. Prints one line per set:
# `name files bytes sbom split`.
import argparse
import base64
import hashlib
import json
import os


def sri(h):
    return "sha512-" + base64.b64encode(h.digest()).decode()


def package(out, upstream, name, versions):
    """Writes a packument for `versions` [(version, sha512)]."""
    doc = {
        "name": name,
        "dist-tags": {"latest": versions[-1][0]},
        "versions": {
            v: {"name": name, "version": v,
                "dist": {"integrity": s, "tarball": f"{upstream}/{name}/-/{name}-{v}.tgz"}}
            for v, s in versions
        },
    }
    os.makedirs(os.path.join(out, name, "-"), exist_ok=True)
    with open(os.path.join(out, name, "index.json"), "w") as f:
        json.dump(doc, f)


def sbom(out, name, purls):
    path = f"{name}.cdx.json"
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.5",
           "components": [{"type": "library", "name": p, "purl": p} for p in purls]}
    with open(os.path.join(out, path), "w") as f:
        json.dump(doc, f)
    return path


def small_set(out, upstream, count):
    name = f"small-{count}"
    purls, total = [], 0
    per = 10
    for p in range((count + per - 1) // per):
        pkg = f"bench-s{count}-{p}"
        versions = []
        for v in range(min(per, count - p * per)):
            version = f"1.0.{v}"
            seed = hashlib.sha256(f"{pkg}@{version}".encode()).digest()
            body = (seed * 128)[:4096]
            with open(_mk(out, pkg, version), "wb") as f:
                f.write(body)
            versions.append((version, sri(hashlib.sha512(body))))
            purls.append(f"pkg:npm/{pkg}@{version}")
            total += len(body)
        package(out, upstream, pkg, versions)
    return name, count, total, sbom(out, name, purls)


def _mk(out, pkg, version):
    """The path of a tarball, its directory made."""
    os.makedirs(os.path.join(out, pkg, "-"), exist_ok=True)
    return os.path.join(out, pkg, "-", f"{pkg}-{version}.tgz")


def large_set(out, upstream, gib):
    size = 1 << 30 if gib >= 1 else int(gib * (1 << 30))
    count = max(1, round(gib)) if gib >= 1 else 1
    purls = []
    for i in range(count):
        pkg = f"bench-large-{i}"
        path = _mk(out, pkg, "1.0.0")
        head = hashlib.sha256(pkg.encode()).digest() * 128
        with open(path, "wb") as f:
            f.write(head)
            f.truncate(size)
        h = hashlib.sha512(head)
        zeros = bytes(1 << 20)
        left = size - len(head)
        while left > 0:
            n = min(left, len(zeros))
            h.update(zeros[:n])
            left -= n
        package(out, upstream, pkg, [("1.0.0", sri(h))])
        purls.append(f"pkg:npm/{pkg}@1.0.0")
    return "large", count, count * size, sbom(out, "large", purls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--small", type=int, nargs="*", default=[])
    ap.add_argument("--large-gb", type=float, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for n in a.small:
        name, files, total, path = small_set(a.out, a.upstream, n)
        print(name, files, total, path, "no")
    if a.large_gb > 0:
        name, files, total, path = large_set(a.out, a.upstream, a.large_gb)
        print(name, files, total, path, "yes")


if __name__ == "__main__":
    main()
