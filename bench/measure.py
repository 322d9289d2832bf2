#!/usr/bin/env python3
# Owns the benchmark's small measuring tools, called by bench/run.sh: free ports, readiness waits,
# body checks, the concurrent-miss herd, start-up and command timing, RSS from /proc, and
# the 100,000-artifact database. Loopback only; every loop is bounded in count and time.
import argparse
import hashlib
import http.client
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse


def split(url):
    u = urllib.parse.urlsplit(url)
    host = u.hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing non-loopback URL {url}")
    path = u.path + ("?" + u.query if u.query else "")
    return host, u.port or 80, path


def get(url, timeout=60.0, headers=None, sink=None):
    """GET; returns (status, headers dict, sha256 hex, length, ttfb seconds)."""
    host, port, path = split(url)
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.perf_counter()
    # As curl and every package manager do; proxpi answers 406 to a request without Accept.
    c.request("GET", path, headers={"Accept": "*/*", **(headers or {})})
    r = c.getresponse()
    h = hashlib.sha256()
    n = 0
    first = None
    while True:
        chunk = r.read(256 * 1024)
        if first is None:
            first = time.perf_counter() - t0
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
        if sink:
            sink.write(chunk)
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, h.hexdigest(), n, first


def cmd_ports(a):
    socks = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def cmd_wait(a):
    deadline = time.monotonic() + a.timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            st, _, _, _, _ = get(a.url, timeout=2)
            if st < 500 and (a.any or st == 200):
                return
            last = f"status {st}"
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    sys.exit(f"{a.url} not ready after {a.timeout}s: {last}")


def cmd_fetch(a):
    """Fetches a URL; checks status, size and digest when given; optionally saves the body."""
    headers = {k.strip(): v.strip() for k, v in (h.split(":", 1) for h in a.header or [])}
    sink = open(a.save, "wb") if a.save else None
    try:
        st, hd, sha, n, _ = get(a.url, timeout=a.timeout, headers=headers, sink=sink)
    finally:
        if sink:
            sink.close()
    problems = []
    if st != 200:
        problems.append(f"status {st}")
    if a.size is not None and n != a.size:
        problems.append(f"{n} bytes, expected {a.size}")
    if a.sha256 and sha != a.sha256:
        problems.append("sha256 differs")
    if problems:
        sys.exit(f"{a.url}: " + ", ".join(problems))
    print(json.dumps({"status": st, "bytes": n, "cache": hd.get("x-cache", "")}))


def cmd_herd(a):
    """N requests for one URL, released together; reports statuses and whether bodies match."""
    barrier = threading.Barrier(a.n, timeout=30)
    results = [None] * a.n

    def one(i):
        try:
            barrier.wait()
            results[i] = get(a.url, timeout=a.timeout)
        except Exception as e:  # noqa: BLE001 (a failed request is a result)
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.timeout + 35)
    ok = sum(1 for r in results if isinstance(r, tuple) and r[0] == 200 and r[2] == a.sha256)
    caches = {}
    for r in results:
        key = r[1].get("x-cache", "-") if isinstance(r, tuple) else type(r).__name__
        caches[key] = caches.get(key, 0) + 1
    print(json.dumps({"ok": ok, "n": a.n, "seconds": round(time.monotonic() - t0, 3),
                      "cache": caches}))


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def tree(pid):
    """The process and its descendants (for servers that fork workers)."""
    pids = [pid]
    i = 0
    while i < len(pids):
        try:
            with open(f"/proc/{pids[i]}/task/{pids[i]}/children") as f:
                pids.extend(int(p) for p in f.read().split())
        except OSError:
            pass
        i += 1
    return pids


def cmd_rss(a):
    """VmRSS and VmHWM in KiB, summed over the process tree."""
    tot = {"VmRSS": 0, "VmHWM": 0}
    for p in tree(a.pid):
        try:
            r = rss(p)
        except OSError:
            continue
        for k in tot:
            tot[k] += r.get(k, 0)
    print(json.dumps({"rss_kb": tot["VmRSS"], "hwm_kb": tot["VmHWM"]}))


def cmd_cpu(a):
    """CPU seconds (user + system) used so far by the process tree: a measure of work per request
    that other load on a shared machine disturbs far less than requests per second."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree(a.pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except OSError:
            pass
    print(f"{total / tick:.2f}")


def cmd_reset_hwm(a):
    for p in tree(a.pid):
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass


def cmd_seed(a):
    """Adds N artifact rows (and empty files, which start-up checks exist) to a database the
    proxy created; its schema is the proxy's own, only the column names are assumed here."""
    db = sqlite3.connect(a.db)
    now = int(time.time())
    rows = []
    for i in range(a.n):
        name = f"seed-{i // 10}"
        ver = f"1.0.{i % 10}"
        fn = f"{name}-{ver}.tgz"
        rel = f"npm/{name}/{ver}/{fn}"
        p = os.path.join(a.storage, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "wb").close()
        rows.append(("npm", name, ver, fn, "http://127.0.0.1:9/" + fn, rel,
                     hashlib.sha256(rel.encode()).hexdigest(), 0, "application/octet-stream",
                     now, now, i % 7))
    db.executemany(
        "INSERT INTO artifacts (ecosystem, name, version, filename, upstream_url, storage_path,"
        " sha256, size, content_type, fetched_at, last_accessed_at, hit_count)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def cmd_startup(a):
    """Starts the command, then asks URL until it answers 200; repeated; prints the median."""
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        p = subprocess.Popen(a.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        took = None
        try:
            deadline = t0 + a.timeout
            while time.perf_counter() < deadline:
                try:
                    st, _, _, _, _ = get(a.url, timeout=2)
                    if st == 200:
                        took = time.perf_counter() - t0
                        break
                except OSError:
                    pass
                time.sleep(0.0005)
        finally:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if took is None:
            sys.exit(f"no 200 from {a.url} within {a.timeout}s")
        times.append(took)
    print(json.dumps({"median_s": statistics.median(times), "min_s": min(times),
                      "runs": len(times)}))


def cmd_relay(a):
    """An HTTP relay that waits `ms` before passing each request on: an upstream far away."""
    import http.server
    import urllib.request

    class Relay(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            time.sleep(a.ms / 1000)
            req = urllib.request.Request(a.to + self.path, headers={
                k: v for k, v in self.headers.items() if k.lower() in ("accept", "if-none-match")})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    body, status, headers = r.read(), r.status, r.headers
            except urllib.error.HTTPError as e:
                body, status, headers = e.read(), e.code, e.headers
            self.send_response(status)
            for k in ("Content-Type", "ETag", "Last-Modified"):
                if headers.get(k):
                    self.send_header(k, headers[k])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Relay).serve_forever()


def cmd_install(a):
    """Fetches `n` packuments one after another, as a resolver does: total seconds and the cache
    states seen."""
    start, states = time.monotonic(), {}
    for i in range(a.n):
        st, hd, _, _, _ = get(f"{a.base}/bench-dep-{i}", timeout=60,
                              headers={"Accept": "application/vnd.npm.install-v1+json"})
        if st != 200:
            sys.exit(f"bench-dep-{i}: status {st}")
        c = hd.get("x-cache", "")
        states[c] = states.get(c, 0) + 1
    print(json.dumps({"seconds": time.monotonic() - start, "states": states}))

def cmd_runs(a):
    """Runs the command `runs` times, each after `prepare` (a shell command, untimed); prints the
    median and fastest wall time. Any failing run fails."""
    times = []
    for _ in range(a.runs):
        if a.prepare:
            subprocess.run(a.prepare, shell=True, check=True, timeout=a.timeout)
        t0 = time.perf_counter()
        r = subprocess.run(a.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=a.timeout)
        took = time.perf_counter() - t0
        if r.returncode != 0:
            sys.exit(f"{' '.join(a.cmd)} failed: {r.stderr.decode(errors='replace')[-300:]}")
        times.append(took)
    print(json.dumps({"median_s": statistics.median(times), "min_s": min(times),
                      "runs": len(times)}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(required=True)
    p = sub.add_parser("ports")
    p.add_argument("n", type=int)
    p.set_defaults(f=cmd_ports)
    p = sub.add_parser("wait")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--any", action="store_true", help="any answer below 500 will do")
    p.set_defaults(f=cmd_wait)
    p = sub.add_parser("fetch")
    p.add_argument("url")
    p.add_argument("--size", type=int)
    p.add_argument("--sha256")
    p.add_argument("--save")
    p.add_argument("--header", action="append")
    p.add_argument("--timeout", type=float, default=120)
    p.set_defaults(f=cmd_fetch)
    p = sub.add_parser("herd")
    p.add_argument("url")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--sha256", required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(f=cmd_herd)
    p = sub.add_parser("rss")
    p.add_argument("pid", type=int)
    p.set_defaults(f=cmd_rss)
    p = sub.add_parser("cpu")
    p.add_argument("pid", type=int)
    p.set_defaults(f=cmd_cpu)
    p = sub.add_parser("reset-hwm")
    p.add_argument("pid", type=int)
    p.set_defaults(f=cmd_reset_hwm)
    p = sub.add_parser("seed")
    p.add_argument("db")
    p.add_argument("storage")
    p.add_argument("n", type=int)
    p.set_defaults(f=cmd_seed)
    p = sub.add_parser("relay")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--ms", type=float, default=50)
    p.set_defaults(f=cmd_relay)
    p = sub.add_parser("install")
    p.add_argument("base")
    p.add_argument("--n", type=int, default=100)
    p.set_defaults(f=cmd_install)
    p = sub.add_parser("startup")
    p.add_argument("--url", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(f=cmd_startup)
    p = sub.add_parser("runs")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--prepare")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(f=cmd_runs)
    a = ap.parse_args()
    if getattr(a, "cmd", None) and a.cmd[:1] == ["--"]:
        a.cmd = a.cmd[1:]
    a.f(a)


if __name__ == "__main__":
    main()
