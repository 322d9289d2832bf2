#!/usr/bin/env python3
"""Rebuilds the NuGet fixture packages: `.nupkg` files (OPC zip archives as `dotnet pack`
lays them out: the `.nuspec` at the root, `[Content_Types].xml`, `_rels/.rels`, a `lib/` folder)
with fixed timestamps, and each package's `.nuspec` as the flat container serves it beside the
package. File names are lowercase, as the flat container spells them. The tests build the
service index, version lists and registration documents around these files.
"""

import io
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))

# id, version, [(dependency id, version range)]
PACKAGES = [
    ("Proxy.Fixture.A", "1.0.0", [("Proxy.Fixture.B", "[1.0.0, )")]),
    ("Proxy.Fixture.B", "1.0.0", []),
    ("Proxy.Fixture.B", "1.1.0", []),
]


def nuspec(pid, version, deps):
    dep_xml = "".join(
        f'\n        <dependency id="{d}" version="{r}" exclude="Build,Analyzers" />' for d, r in deps
    )
    return f'''<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>{pid}</id>
    <version>{version}</version>
    <authors>proxy</authors>
    <license type="expression">MIT</license>
    <description>A fixture for the proxy's tests.</description>
    <dependencies>
      <group targetFramework=".NETStandard2.0">{dep_xml}
      </group>
    </dependencies>
  </metadata>
</package>
'''.encode()


CONTENT_TYPES = b'''<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" /><Default Extension="nuspec" ContentType="application/octet" /><Default Extension="_" ContentType="application/octet" /></Types>'''


def rels(pid):
    return f'''<?xml version="1.0" encoding="utf-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/{pid}.nuspec" Id="R0" /></Relationships>'''.encode()


def main():
    for pid, version, deps in PACKAGES:
        lower = f"{pid.lower()}.{version}"
        spec = nuspec(pid, version, deps)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in [
                ("_rels/.rels", rels(pid)),
                (f"{pid}.nuspec", spec),
                ("lib/netstandard2.0/_._", b""),
                ("[Content_Types].xml", CONTENT_TYPES),
            ]:
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        with open(os.path.join(HERE, f"{lower}.nupkg"), "wb") as f:
            f.write(buf.getvalue())
        with open(os.path.join(HERE, f"{lower}.nuspec"), "wb") as f:
            f.write(spec)


if __name__ == "__main__":
    main()
