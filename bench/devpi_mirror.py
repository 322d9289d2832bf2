#!/usr/bin/env python3
# Owns devpi-server's set-up for the benchmark: logs in as root (empty password after devpi-init)
# and creates the mirror index root/bench of the fake upstream's simple index; with --link, finds
# the absolute URL devpi gives a file on one of its simple pages. Loopback only.
import base64
import json
import re
import sys
import time
import urllib.parse
import urllib.request


def call(method, url, body=None, headers=None):
    if urllib.parse.urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        sys.exit(f"refusing non-loopback URL {url}")
    data = json.dumps(body).encode() if body is not None else None
    h = {"Accept": "application/json", "Content-Type": "application/json"}
    h.update(headers or {})
    rq = urllib.request.Request(url, data=data, method=method, headers=h)
    with urllib.request.urlopen(rq, timeout=30) as r:
        return json.loads(r.read() or b"null")


def mirror(server, upstream):
    tok = call("POST", f"{server}/+login", {"user": "root", "password": ""})["result"]["password"]
    auth = base64.b64encode(f"root:{tok}".encode()).decode()
    call("PUT", f"{server}/root/bench", {"type": "mirror", "mirror_url": upstream},
         {"X-Devpi-Auth": auth})


def link(page, filename):
    deadline = time.monotonic() + 60
    while True:
        rq = urllib.request.Request(page, headers={"Accept": "text/html"})
        with urllib.request.urlopen(rq, timeout=30) as r:
            html = r.read().decode()
        for href in re.findall(r'href="([^"]+)"', html):
            if urllib.parse.urlsplit(href).path.endswith("/" + filename):
                print(urllib.parse.urljoin(page, href.split("#")[0]))
                return
        if time.monotonic() > deadline:
            sys.exit(f"{filename} not on {page}")
        time.sleep(0.5)


if __name__ == "__main__":
    if sys.argv[1] == "--link":
        link(sys.argv[2], sys.argv[3])
    else:
        mirror(sys.argv[1], sys.argv[2])
