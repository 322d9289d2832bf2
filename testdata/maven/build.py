#!/usr/bin/env python3
"""Rebuilds the Maven fixture repository under repo/, deterministically and without network.

A repository in the Maven 2 layout, as Maven Central serves it:
- com.example:fixture-a:1.0.0 (jar) depending on com.example:fixture-b:1.0.0; its .pom and .jar
  carry .sha1 sidecars and also .sha512 ones (as Gradle-published artifacts do), which the proxy
  verifies the files against.
- com.example:fixture-b:1.0.0 (jar), with .sha1 sidecars only: served unverified, checked by the
  client.
- maven-metadata.xml (with its .sha1) for both artifacts, listing their versions.

The jars hold a manifest and one resource, with fixed timestamps so that rebuilding gives the same
bytes. The tests compute digests from these files, so nothing else needs regenerating.
Usage: python3 build.py
"""

import hashlib
import io
import os
import shutil
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "repo")
EPOCH = (1980, 1, 1, 0, 0, 0)
GROUP = "com.example"

POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{group}</groupId>
  <artifactId>{artifact}</artifactId>
  <version>{version}</version>
  <packaging>jar</packaging>
  <dependencies>{deps}
  </dependencies>
</project>
"""

DEP = """
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>"""

METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <groupId>{group}</groupId>
  <artifactId>{artifact}</artifactId>
  <versioning>
    <latest>{latest}</latest>
    <release>{latest}</release>
    <versions>
{versions}
    </versions>
    <lastUpdated>20240101000000</lastUpdated>
  </versioning>
</metadata>
"""


def jar(artifact, version):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in [
            ("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: build.py\r\n\r\n"),
            (f"com/example/{artifact.replace('-', '')}/fixture.txt", f"{artifact} {version}\n"),
        ]:
            info = zipfile.ZipInfo(name, EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, text)
    return buf.getvalue()


def write(path, data, sums):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    for algo in sums:
        with open(f"{path}.{algo}", "w", encoding="ascii") as f:
            f.write(hashlib.new(algo, data).hexdigest())


def artifact(name, version, deps, sums):
    base = os.path.join(REPO, *GROUP.split("."), name)
    deps = "".join(DEP.format(group=GROUP, artifact=a, version=v) for a, v in deps)
    pom = POM.format(group=GROUP, artifact=name, version=version, deps=deps)
    write(os.path.join(base, version, f"{name}-{version}.pom"), pom.encode(), sums)
    write(os.path.join(base, version, f"{name}-{version}.jar"), jar(name, version), sums)
    versions = f"      <version>{version}</version>"
    meta = METADATA.format(group=GROUP, artifact=name, latest=version, versions=versions)
    write(os.path.join(base, "maven-metadata.xml"), meta.encode(), ["sha1"])


def main():
    shutil.rmtree(REPO, ignore_errors=True)
    artifact("fixture-a", "1.0.0", [("fixture-b", "1.0.0")], ["sha1", "sha512"])
    artifact("fixture-b", "1.0.0", [], ["sha1"])


if __name__ == "__main__":
    main()
