#!/usr/bin/env python3
"""Builds the OSV fixtures the policy tests import: records as OSV publishes them (one JSON file
each), `npm-all.zip` as OSV's per-ecosystem archive holds them (deflated entries, as
https://osv-vulnerabilities.storage.googleapis.com/npm/all.zip), and a tree laid out like a
checkout of the OpenSSF malicious-packages repository (osv/malicious/{ecosystem}/{name}/...).

Run from this directory: python3 build.py
"""
import json
import os
import zipfile

NPM = {
    # Malicious: every version of proxy-fixture-b.
    "MAL-2024-0001.json": {
        "schema_version": "1.5.0",
        "id": "MAL-2024-0001",
        "modified": "2024-05-01T12:00:00Z",
        "published": "2024-05-01T12:00:00Z",
        "summary": "Malicious code in proxy-fixture-b (npm)",
        "details": "The package runs a credential stealer on install.",
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "proxy-fixture-b"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}],
                "database_specific": {"malicious-packages-origins": [{"source": "fixture"}]},
            }
        ],
    },
    # A high-severity advisory for proxy-fixture-a before 1.0.1 (a CVSS v3 vector only).
    "GHSA-aaaa-bbbb-cccc.json": {
        "schema_version": "1.5.0",
        "id": "GHSA-aaaa-bbbb-cccc",
        "aliases": ["CVE-2024-0001"],
        "modified": "2024-04-01T00:00:00Z",
        "summary": "Prototype pollution in proxy-fixture-a",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "proxy-fixture-a"},
                "ranges": [
                    {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}
                ],
                "versions": ["1.0.0"],
            }
        ],
    },
    # Withdrawn: never blocks.
    "MAL-2024-0002.json": {
        "id": "MAL-2024-0002",
        "modified": "2024-05-02T00:00:00Z",
        "withdrawn": "2024-05-02T00:00:00Z",
        "summary": "Malicious code in @proxy-fixtures/scoped (npm)",
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "@proxy-fixtures/scoped"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}],
            }
        ],
    },
}

MALICIOUS = {
    "osv/malicious/pypi/Evil_Pkg/MAL-2024-0100.json": {
        "id": "MAL-2024-0100",
        "modified": "2024-06-01T00:00:00Z",
        "summary": "Malicious code in Evil_Pkg (PyPI)",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Evil_Pkg"},
                "versions": ["0.1", "0.2"],
            }
        ],
    },
    "osv/malicious/npm/proxy-fixture-b/MAL-2024-0001.json": NPM["MAL-2024-0001.json"],
    "osv/withdrawn/npm/old-thing/MAL-2023-0009.json": {
        "id": "MAL-2023-0009",
        "modified": "2023-01-02T00:00:00Z",
        "withdrawn": "2023-01-02T00:00:00Z",
        "affected": [{"package": {"ecosystem": "npm", "name": "old-thing"}}],
    },
    # Not OSV records: counted and skipped, like the rest of a checkout.
    "tools/config.json": {"sources": ["fixture"]},
    ".github/workflow.json": {"ignored": True},
}


def dump(path, record):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")


for name, record in NPM.items():
    dump(os.path.join("npm", name), record)
with zipfile.ZipFile("npm-all.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(NPM):
        info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 12, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, json.dumps(NPM[name], indent=2, sort_keys=True) + "\n")
for path, record in MALICIOUS.items():
    dump(os.path.join("malicious-packages", path), record)
with open(os.path.join("malicious-packages", "README.md"), "w") as f:
    f.write("A checkout of ossf/malicious-packages, in miniature.\n")
