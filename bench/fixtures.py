#!/usr/bin/env python3
# Owns the benchmark fixtures: generates, under OUT/upstream, the files the loopback fake upstream
# serves (npm packuments and tarballs, PyPI simple pages and wheels), and OUT/manifest.json, which
# tells bench/run.sh every URL path, size and digest. Deterministic for a given size set.
"""Generate benchmark fixtures.

npm layout (what an npm registry serves):
  upstream/meta/<name>.json              packument for GET /<name> (nginx maps it)
  upstream/<name>/-/<name>-<ver>.tgz     tarball
PyPI layout (PEP 503 simple API, files under /packages/ as on the files host):
  upstream/simple/<name>/index.html      (and index.json, the PEP 691 form)
  upstream/packages/<xx>/<yy>/<file>.whl
OCI (a registry's blob path, and an image to push into a real registry):
  upstream/v2/bench/oci/blobs/sha256:<hex>   a blob, as GET /v2/bench/oci/blobs/<digest>
  oci/                                       an OCI layout, tag "bench": one image, a few layers
"""

import argparse
import base64
import hashlib
import json
import os
import random

SMALL = 4096


def sri(data_or_digest):
    return "sha512-" + base64.b64encode(data_or_digest).decode()


class Gen:
    def __init__(self, out, upstream):
        self.out = out
        self.up = upstream.rstrip("/")
        self.root = os.path.join(out, "upstream")
        self.rng = random.Random(20261126)
        self.manifest = {"npm": {}, "pypi": {}}

    def path(self, rel):
        p = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def blob(self, size, seed):
        # Incompressible bytes, like a real tarball, reproducible per seed.
        r = random.Random(seed)
        return r.randbytes(size)

    def write_blob(self, rel, size, seed):
        """Writes `size` pseudo-random bytes; returns (sha256 hex, sha512 bytes)."""
        p = self.path(rel)
        h256, h512 = hashlib.sha256(), hashlib.sha512()
        r = random.Random(seed)
        left = size
        with open(p, "wb") as f:
            while left:
                n = min(left, 1 << 20)
                chunk = r.randbytes(n)
                f.write(chunk)
                h256.update(chunk)
                h512.update(chunk)
                left -= n
        return h256.hexdigest(), h512.digest()

    # ---- npm -------------------------------------------------------------------------------

    def version_doc(self, name, ver, integrity, shasum, size, padding):
        return {
            "name": name,
            "version": ver,
            "description": "benchmark fixture " + name,
            "main": "index.js",
            "scripts": {"test": "node test.js"},
            "repository": {"type": "git", "url": "git+https://example.invalid/" + name + ".git"},
            "keywords": ["bench", "fixture"],
            "author": {"name": "Bench", "email": "bench@example.invalid"},
            "license": "MIT",
            "dependencies": {"dep-a": "^1.2.3", "dep-b": "~4.5.6"},
            "readme": padding,
            "_id": name + "@" + ver,
            "_nodeVersion": "20.20.2",
            "_npmVersion": "10.8.2",
            "dist": {
                "integrity": integrity,
                "shasum": shasum,
                "tarball": f"{self.up}/{name}/-/{name}-{ver}.tgz",
                "fileCount": 3,
                "unpackedSize": size,
            },
            "_npmUser": {"name": "bench", "email": "bench@example.invalid"},
            "maintainers": [{"name": "bench", "email": "bench@example.invalid"}],
            "directories": {},
        }

    def packument(self, name, versions):
        """versions: list of (ver, integrity, shasum, size, padding)."""
        latest = versions[-1][0]
        doc = {
            "_id": name,
            "name": name,
            "dist-tags": {"latest": latest},
            "versions": {},
            "time": {"created": "2026-01-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z"},
            "maintainers": [{"name": "bench", "email": "bench@example.invalid"}],
            "description": "benchmark fixture " + name,
            "license": "MIT",
            "readme": "# " + name + "\n",
        }
        for ver, integ, shasum, size, pad in versions:
            doc["versions"][ver] = self.version_doc(name, ver, integ, shasum, size, pad)
            doc["time"][ver] = "2026-06-01T00:00:00.000Z"
        p = self.path(f"meta/{name}.json")
        with open(p, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
        return os.path.getsize(p)

    def npm_package(self, name, sizes, seed):
        """A package whose versions' tarballs exist: sizes[i] bytes for version 1.0.i.
        Equal sizes with `same=True` semantics are not used: every tarball has its own bytes."""
        versions, files = [], []
        for i, size in enumerate(sizes):
            ver = f"1.0.{i}"
            rel = f"{name}/-/{name}-{ver}.tgz"
            sha256, sha512 = self.write_blob(rel, size, seed * 1000 + i)
            with open(self.path(rel), "rb") as f:
                sha1 = hashlib.sha1(f.read()).hexdigest() if size <= (8 << 20) else "0" * 40
            versions.append((ver, sri(sha512), sha1, size, ""))
            files.append({"version": ver, "path": f"/{name}/-/{name}-{ver}.tgz", "size": size,
                          "sha256": sha256})
        size = self.packument(name, versions)
        self.manifest["npm"][name] = {"packument": f"/{name}", "packument_size": size,
                                      "files": files}

    def npm_linked(self, name, size, count, seed):
        """`count` versions that all carry the same bytes (hard links): cold misses of a large
        file without `count` times the disk."""
        first = f"{name}/-/{name}-1.0.0.tgz"
        sha256, sha512 = self.write_blob(first, size, seed)
        versions, files = [], []
        for i in range(count):
            ver = f"1.0.{i}"
            rel = f"{name}/-/{name}-{ver}.tgz"
            if i:
                os.link(self.path(first), self.path(rel))
            versions.append((ver, sri(sha512), "0" * 40, size, ""))
            files.append({"version": ver, "path": f"/{name}/-/{name}-{ver}.tgz", "size": size,
                          "sha256": sha256})
        psize = self.packument(name, versions)
        self.manifest["npm"][name] = {"packument": f"/{name}", "packument_size": psize,
                                      "files": files}

    def npm_metadata_only(self, name, target_bytes):
        """A packument of about `target_bytes` whose tarballs do not exist (metadata scenarios)."""
        pad = "x" * 900
        sample = self.version_doc(name, "10.10.10", sri(bytes(64)), "0" * 40, 1000, pad)
        # Each version appears in "versions" and in "time".
        per_version = len(json.dumps(sample, separators=(",", ":"))) + 40
        n = max(1, target_bytes // per_version)
        versions = []
        for i in range(n):
            ver = f"{i // 10000}.{(i // 100) % 100}.{i % 100}"
            digest = hashlib.sha512(f"{name}{ver}".encode()).digest()
            versions.append((ver, sri(digest), hashlib.sha1(ver.encode()).hexdigest(), 1000, pad))
        size = self.packument(name, versions)
        self.manifest["npm"][name] = {"packument": f"/{name}", "packument_size": size,
                                      "files": [], "versions": n}

    # ---- PyPI ------------------------------------------------------------------------------

    def pypi_project(self, name, sizes, seed, extra_links=0):
        norm = name.replace("_", "-")
        dist = name.replace("-", "_")
        links, files, entries = [], [], []
        for i, size in enumerate(sizes):
            fname = f"{dist}-1.0.{i}-py3-none-any.whl"
            h = hashlib.sha256(fname.encode()).hexdigest()
            rel = f"packages/{h[:2]}/{h[2:4]}/{h[4:]}/{fname}"
            sha256, _ = self.write_blob(rel, size, seed * 1000 + i)
            links.append(f'<a href="{self.up}/{rel}#sha256={sha256}" '
                         f'data-requires-python="&gt;=3.8">{fname}</a><br/>')
            entries.append({"filename": fname, "url": f"{self.up}/{rel}",
                            "hashes": {"sha256": sha256}, "requires-python": ">=3.8"})
            files.append({"filename": fname, "path": "/" + rel, "size": size, "sha256": sha256})
        for i in range(extra_links):
            fname = f"{dist}-0.{i // 100}.{i % 100}-py3-none-any.whl"
            h = hashlib.sha256(fname.encode()).hexdigest()
            rel = f"packages/{h[:2]}/{h[2:4]}/{h[4:]}/{fname}"
            links.append(f'<a href="{self.up}/{rel}#sha256={h}" '
                         f'data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256={h}">'
                         f'{fname}</a><br/>')
            entries.append({"filename": fname, "url": f"{self.up}/{rel}", "hashes": {"sha256": h},
                            "requires-python": ">=3.8", "core-metadata": {"sha256": h}})
        # The PEP 691 form, which pip asks for first (nginx picks it by the Accept header).
        with open(self.path(f"simple/{norm}/index.json"), "w") as f:
            json.dump({"meta": {"api-version": "1.1"}, "name": norm, "files": entries}, f)
        html = ("<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" "
                f"content=\"1.1\">\n<title>Links for {norm}</title>\n</head>\n<body>\n"
                f"<h1>Links for {norm}</h1>\n" + "\n".join(links) + "\n</body>\n</html>\n")
        p = self.path(f"simple/{norm}/index.html")
        with open(p, "w") as f:
            f.write(html)
        self.manifest["pypi"][norm] = {"page": f"/simple/{norm}/", "page_size": len(html),
                                       "files": files}


    # ---- OCI -------------------------------------------------------------------------------

    def oci(self, blob_size, image_size, layers, seed):
        """A blob at a registry's path, and an OCI image layout of `layers` layers totalling
        `image_size` bytes (pseudo-random: a registry and skopeo move blobs without reading them)."""
        tmp = "oci-blob.tmp"
        sha256, _ = self.write_blob(tmp, blob_size, seed)
        rel = f"v2/bench/oci/blobs/sha256:{sha256}"
        os.replace(self.path(tmp), self.path(rel))
        layout = os.path.join(self.out, "oci")
        blobs = os.path.join(layout, "blobs", "sha256")
        os.makedirs(blobs, exist_ok=True)

        def put(data):
            h = hashlib.sha256(data).hexdigest()
            with open(os.path.join(blobs, h), "wb") as f:
                f.write(data)
            return {"digest": "sha256:" + h, "size": len(data)}

        descs = []
        for i in range(layers):
            size = image_size // layers + (image_size % layers if i == 0 else 0)
            d = put(random.Random(seed * 1000 + i + 1).randbytes(size))
            descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", **d})
        config = put(json.dumps({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descs]},
            "config": {}}).encode())
        manifest = put(json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": descs}).encode())
        with open(os.path.join(layout, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        with open(os.path.join(layout, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
                "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}, f)
        self.manifest["oci"] = {
            "blob": {"path": "/" + rel, "size": blob_size, "sha256": sha256},
            "layout": layout, "image_bytes": image_size, "layers": layers,
        }

    def pypi_root(self):
        """The project list (`/simple/`), which proxpi and devpi read first."""
        links = "\n".join(f'<a href="/simple/{n}/">{n}</a>' for n in sorted(self.manifest["pypi"]))
        with open(self.path("simple/index.html"), "w") as f:
            f.write("<!DOCTYPE html>\n<html><body>\n" + links + "\n</body></html>\n")
        with open(self.path("simple/index.json"), "w") as f:
            json.dump({"meta": {"api-version": "1.1"},
                       "projects": [{"name": n} for n in sorted(self.manifest["pypi"])]}, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--upstream", required=True, help="base URL of the fake upstream")
    ap.add_argument("--large", type=int, default=100 << 20, help="large artifact bytes")
    ap.add_argument("--meta", type=int, default=5_000_000, help="metadata packument bytes")
    ap.add_argument("--huge", type=int, default=150_000_000, help="huge packument bytes")
    ap.add_argument("--cold", type=int, default=20, help="small cold-miss tarballs")
    ap.add_argument("--cold-large", type=int, default=3, help="large cold-miss tarballs")
    ap.add_argument("--herd", type=int, default=8 << 20, help="bytes of the coalescing file")
    ap.add_argument("--many-huge", type=int, default=0,
                    help="bytes of each of three huge packuments fetched at once (0: none)")
    ap.add_argument("--deps", type=int, default=100, help="small packuments of the install scenario")
    ap.add_argument("--oci-blob", type=int, default=50 << 20, help="bytes of the OCI blob")
    ap.add_argument("--oci-image", type=int, default=50 << 20, help="bytes of the OCI image")
    a = ap.parse_args()
    g = Gen(a.out, a.upstream)
    g.npm_package("bench-small", [SMALL], 1)
    g.npm_package("bench-large", [a.large], 2)
    g.npm_package("bench-cold", [SMALL] * a.cold, 3)
    g.npm_linked("bench-coldlarge", a.large, a.cold_large, 4)
    g.npm_package("bench-herd", [a.herd], 5)
    g.npm_metadata_only("bench-meta", a.meta)
    g.npm_metadata_only("bench-huge", a.huge)
    if a.many_huge:
        # One document under three names (hard links: one copy on disk); the proxy rewrites each.
        g.npm_metadata_only("bench-huge-1", a.many_huge)
        for i in (2, 3):
            os.link(g.path("meta/bench-huge-1.json"), g.path(f"meta/bench-huge-{i}.json"))
            g.manifest["npm"][f"bench-huge-{i}"] = g.manifest["npm"]["bench-huge-1"]
    # What an install reads: many small packuments.
    for i in range(a.deps):
        g.npm_metadata_only(f"bench-dep-{i}", 4000)
    g.pypi_project("bench-small", [SMALL], 11)
    g.pypi_project("bench-large", [a.large], 12)
    g.pypi_project("bench-meta", [SMALL], 13, extra_links=2000)
    g.pypi_root()
    g.oci(a.oci_blob, a.oci_image, 4, 21)
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(g.manifest, f, indent=1)


if __name__ == "__main__":
    main()
