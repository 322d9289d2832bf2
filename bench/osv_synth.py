#!/usr/bin/env python3
"""A synthetic OSV dump of realistic size, to measure `proxy advisories import` (BENCHMARKS.md,
"Advisories"). Shapes follow OSV's real archives: npm/all.zip is mostly malicious-package records
(one package, `introduced: 0`, origins in database_specific) plus GitHub advisories with SEMVER
ranges, an enumerated `versions` list and a CVSS vector; PyPI the same with ECOSYSTEM ranges.

Usage: python3 bench/osv_synth.py OUT_DIR [npm_malicious] [npm_ghsa] [pypi_malicious] [pypi_other]
Writes OUT_DIR/npm-all.zip and OUT_DIR/pypi-all.zip (deflated, as OSV publishes them).
"""
import json
import random
import sys
import zipfile

out = sys.argv[1]
counts = [int(a) for a in sys.argv[2:6]] + [200_000, 20_000, 12_000, 10_000][len(sys.argv[2:6]):]
rng = random.Random(7)


def name(i):
    return "pkg-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8)) + f"-{i}"


def malicious(eco, i):
    # MAL ids are unique across ecosystems.
    n = i if eco == "npm" else 1_000_000 + i
    return {
        "schema_version": "1.5.0",
        "id": f"MAL-2024-{n}",
        "modified": f"2024-{1 + i % 12:02}-{1 + i % 28:02}T{i % 24:02}:00:00Z",
        "published": "2024-01-01T00:00:00Z",
        "summary": f"Malicious code in {name(i)} ({eco})",
        "details": "This package was found to exfiltrate environment variables on install. " * 3,
        "affected": [
            {
                "package": {"ecosystem": eco, "name": name(i)},
                "ranges": [{"type": "SEMVER" if eco == "npm" else "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                "database_specific": {"malicious-packages-origins": [{"source": "ghsa-malware", "sha256": "%064x" % rng.getrandbits(256)}]},
            }
        ],
    }


def advisory(eco, i):
    versions = [f"{a}.{b}.{c}" for a in range(2) for b in range(4) for c in range(4)]
    fixed = versions[rng.randrange(len(versions))]
    return {
        "schema_version": "1.5.0",
        "id": f"GHSA-{i:05x}-{rng.getrandbits(16):04x}-{eco[0]}{rng.getrandbits(12):03x}",
        "aliases": [f"CVE-2023-{i}"],
        "modified": "2024-03-01T00:00:00Z",
        "summary": "Prototype pollution in a widely used helper",
        "details": "Versions before the fix allow an attacker to ... " * 10,
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": eco, "name": name(i)},
                "ranges": [{"type": "SEMVER" if eco == "npm" else "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                "versions": [v for v in versions if v < fixed],
            }
        ],
        "database_specific": {"severity": rng.choice(["LOW", "MODERATE", "HIGH", "CRITICAL"]), "cwe_ids": ["CWE-1321"]},
        "references": [{"type": "WEB", "url": f"https://github.com/advisories/{i}"}] * 3,
    }


for eco, file, mal, other in [("npm", "npm-all.zip", counts[0], counts[1]), ("PyPI", "pypi-all.zip", counts[2], counts[3])]:
    with zipfile.ZipFile(f"{out}/{file}", "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(mal):
            r = malicious(eco, i)
            z.writestr(r["id"] + ".json", json.dumps(r, indent=2))
        for i in range(other):
            r = advisory(eco, i)
            z.writestr(r["id"] + ".json", json.dumps(r, indent=2))
