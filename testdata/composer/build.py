#!/usr/bin/env python3
"""Rebuilds the Composer fixtures: dist zips laid out as GitHub zipballs, and the repository's
documents as Packagist serves them (packages.json, minified p2 files). `@UPSTREAM@` in the
documents is replaced by the fake upstream's URL at test time. Deterministic: run it again and
nothing changes.

    python3 testdata/composer/build.py
"""

import hashlib
import json
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
UP = "@UPSTREAM@"

# (package, version, requires, suggest, declared shasum?)
RELEASES = [
    ("proxy-fixtures/alpha", "1.0.0", {"proxy-fixtures/beta": "^1.0"}, None, True),
    ("proxy-fixtures/beta", "1.1.0", {}, {"ext-json": "for nothing"}, False),
    ("proxy-fixtures/beta", "1.0.0", {}, None, True),
]
# Dev branches, in the ~dev files: (package, branch version, same commit as release)
BRANCHES = [("proxy-fixtures/beta", "dev-main", "1.1.0")]


def reference(package, version):
    """A made-up commit id, stable across rebuilds."""
    return hashlib.sha1(f"{package}@{version}".encode()).hexdigest()


def class_name(package):
    return package.split("/")[1].capitalize()


def composer_json(package, requires):
    doc = {
        "name": package,
        "type": "library",
        "license": "MIT",
        "autoload": {"psr-4": {f"ProxyFixtures\\{class_name(package)}\\": "src/"}},
    }
    if requires:
        doc["require"] = requires
    return json.dumps(doc, indent=4) + "\n"


def build_zip(package, version, requires):
    ref = reference(package, version)
    top = f"{package.replace('/', '-')}-{ref[:7]}/"
    php = (
        f"<?php\n\nnamespace ProxyFixtures\\{class_name(package)};\n\n"
        f"final class {class_name(package)}\n{{\n"
        f"    public const VERSION = '{version}';\n}}\n"
    )
    files = [
        (top, None),
        (top + "composer.json", composer_json(package, requires)),
        (top + "src/", None),
        (top + f"src/{class_name(package)}.php", php),
    ]
    name = f"{package.replace('/', '-')}-{version}.zip"
    path = os.path.join(HERE, "dists", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, text in files:
            info = zipfile.ZipInfo(arcname, date_time=(2024, 1, 1, 0, 0, 0))
            if text is None:
                info.external_attr = (0o40755 << 16) | 0x10
                z.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, text.encode())
    with open(path, "rb") as f:
        return name, hashlib.sha1(f.read()).hexdigest()


def entry(package, version, requires, suggest, shasum, ref):
    e = {
        "name": package,
        "description": f"Fixture {package}",
        "version": version,
        "version_normalized": version + ".0" if not version.startswith("dev-") else version,
        "license": ["MIT"],
        "source": {"url": f"https://github.com/{package}.git", "type": "git", "reference": ref},
        "dist": {
            "url": f"{UP}/repos/{package}/zipball/{ref}",
            "type": "zip",
            "shasum": shasum,
            "reference": ref,
        },
        "type": "library",
        "time": "2024-01-01T00:00:00+00:00",
        "autoload": {"psr-4": {f"ProxyFixtures\\{class_name(package)}\\": "src/"}},
    }
    if requires:
        e["require"] = requires
    if suggest:
        e["suggest"] = suggest
    return e


def minify(versions):
    """Composer's MetadataMinifier::minify."""
    out, last = [], None
    for v in versions:
        if last is None:
            out.append(v)
            last = dict(v)
            continue
        m = {}
        for k, val in v.items():
            if k not in last or last[k] != val:
                m[k] = val
                last[k] = val
        for k in list(last):
            if k not in v:
                m[k] = "__unset"
                del last[k]
        out.append(m)
    return out


def write(rel, doc):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


def main():
    shas = {}
    stable = {}
    for package, version, requires, suggest, declared in RELEASES:
        name, sha = build_zip(package, version, requires)
        shas[name] = sha
        ref = reference(package, version)
        stable.setdefault(package, []).append(
            entry(package, version, requires, suggest, sha if declared else "", ref)
        )
    for package, versions in stable.items():
        write(f"p2/{package}.json", {"packages": {package: minify(versions)}, "minified": "composer/2.0"})
        dev = [
            entry(package, branch, {}, None, "", reference(package, same))
            for p, branch, same in BRANCHES
            if p == package
        ]
        write(f"p2/{package}~dev.json", {"packages": {package: minify(dev)}, "minified": "composer/2.0"})
    write(
        "packages.json",
        {
            "packages": [],
            "notify-batch": f"{UP}/downloads/",
            "providers-url": "/p/%package%$%hash%.json",
            "metadata-url": "/p2/%package%.json",
            "metadata-changes-url": f"{UP}/metadata/changes.json",
            "search": f"{UP}/search.json?q=%query%&type=%type%",
            "list": f"{UP}/packages/list.json",
            "security-advisories": {"metadata": True, "api-url": f"{UP}/api/security-advisories/"},
            "providers-api": f"{UP}/providers/%package%.json",
            "provider-includes": {"p/provider-latest$%hash%.json": {"sha256": "0" * 64}},
        },
    )
    with open(os.path.join(HERE, "dists", "SHA1SUMS"), "w") as f:
        for name in sorted(shas):
            f.write(f"{shas[name]}  {name}\n")


if __name__ == "__main__":
    main()
