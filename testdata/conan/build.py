#!/usr/bin/env python3
"""Rebuilds the Conan fixture: the recipe `fixture/1.0` (a header-only library, so one binary
package fits every profile) exported, built and uploaded by the real `conan` client (`pip install
conan`) to a throwaway upload server in this script, which keeps every file exactly as Conan sent
it, under the server path it was sent to:

    v2/conans/fixture/1.0/_/_/revisions/{rrev}/files/{conanfile.py,conanmanifest.txt,...}
    v2/conans/fixture/1.0/_/_/revisions/{rrev}/packages/{pkgid}/revisions/{prev}/files/...

The tests serve these files and build the revision and file lists from the directory names.
"""

import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "v2")

RECIPE = '''from conan import ConanFile
from conan.tools.files import copy


class Fixture(ConanFile):
    name = "fixture"
    version = "1.0"
    license = "MIT"
    description = "A header-only fixture for the proxy's tests"
    package_type = "header-library"
    exports = "LICENSE"
    exports_sources = "include/*"
    no_copy_source = True

    def package(self):
        copy(self, "*.h", self.source_folder, self.package_folder)
        copy(self, "LICENSE", self.recipe_folder, self.package_folder)

    def package_id(self):
        self.info.clear()
'''


class Upload(http.server.BaseHTTPRequestHandler):
    """Just enough of a Conan 2 server for `conan upload`: capabilities, credentials, "nothing
    is there yet", and PUTs saved to disk."""

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.endswith("/ping"):
            self.answer(200, headers=[("X-Conan-Server-Capabilities", "revisions")])
        elif "check_credentials" in self.path:
            self.answer(200, b"fixture-user", [("Content-Type", "text/plain")])
        else:
            self.answer(404, b'{"errors":[{"status":404,"message":"Not found"}]}',
                        [("Content-Type", "application/json")])

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        rel = self.path.split("?")[0].lstrip("/")
        dest = os.path.join(HERE, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(body)
        self.answer(201)


def conan(home, *args):
    env = dict(os.environ, CONAN_HOME=home)
    subprocess.run(["conan", *args], check=True, env=env, stdout=sys.stderr)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upload)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        home, src = os.path.join(tmp, "home"), os.path.join(tmp, "src")
        os.makedirs(os.path.join(src, "include"))
        with open(os.path.join(src, "conanfile.py"), "w") as f:
            f.write(RECIPE)
        with open(os.path.join(src, "LICENSE"), "w") as f:
            f.write("MIT License (fixture)\n")
        with open(os.path.join(src, "include", "fixture.h"), "w") as f:
            f.write("#pragma once\ninline int fixture_answer() { return 42; }\n")
        conan(home, "profile", "detect")
        conan(home, "remote", "remove", "conancenter")
        conan(home, "remote", "add", "upload", f"http://127.0.0.1:{server.server_port}")
        conan(home, "create", src)
        conan(home, "upload", "fixture/1.0", "-r", "upload", "-c")
    server.shutdown()
    for root, _, files in sorted(os.walk(OUT)):
        for name in sorted(files):
            print(os.path.relpath(os.path.join(root, name), HERE))


if __name__ == "__main__":
    main()
