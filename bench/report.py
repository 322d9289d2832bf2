#!/usr/bin/env python3
# Owns the benchmark's report: reads the raw results bench/run.sh wrote (one JSON object per line),
# computes every figure as a ratio against a reference measured in the same run (median of the
# per-round ratios, so that a noisy moment hits both sides), checks the budget, and writes the
# generated part of BENCHMARKS.md between its markers, keeping the hand-written analysis.
# --check (the smoke run) prints the tables and fails only if a scenario produced no result:
# performance is never asserted.
import argparse
import json
import re
import statistics
import sys
from collections import defaultdict

BEGIN = "<!-- bench/report.py: generated, begin -->"
END = "<!-- bench/report.py: generated, end -->"
MIB = 1 << 20

NAMES = {"ours": "ours", "static": "ours (static)", "nginx": "nginx", "nora": "NORA", "verdaccio": "Verdaccio",
         "proxpi": "proxpi", "devpi": "devpi"}
DOCS = {
    "npm-small": "npm tarball, 4 KiB",
    "npm-large": "npm tarball, large",
    "npm-meta": "npm packument",
    "pypi-small": "wheel, 4 KiB",
    "pypi-large": "wheel, large",
    "pypi-page": "PyPI simple page",
    "oci-large": "OCI blob, large",
}


TEXT = {"commit", "text", "cpu", "kernel", "os", "date", "mode", "nginx", "wrk", "nora", "node",
        "load_start", "load_end", "detail", "result", "direct", "proxied", "doc", "target", "name",
        "size", "k"}


def num(k, v):
    if k in TEXT:
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append({k: num(k, v) for k, v in json.loads(line).items()})
    return rows


def fmt_rate(v, large):
    if v is None:
        return "–"
    if large:
        return f"{v / MIB:,.0f} MiB/s"
    return f"{v:,.0f}"


def fmt_ratio(r):
    return "–" if r is None else f"**{r:.2f}×**"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def quartiles(xs):
    if len(xs) < 4:
        return "–"
    q = statistics.quantiles(xs, n=4)
    return f"{q[0] * 1e3:+.2f} to {q[2] * 1e3:+.2f} ms"


class Report:
    def __init__(self, rows):
        self.rows = rows
        self.machine = next((r for r in rows if r["k"] == "machine"), {})
        self.machine_end = next((r for r in rows if r["k"] == "machine_end"), {})
        self.notes = [r["text"] for r in rows if r["k"] == "note"]
        # load[(doc, conns)][target][round] = (rps, bytes/s, errors)
        self.load = defaultdict(lambda: defaultdict(dict))
        for r in rows:
            if r["k"] != "load":
                continue
            secs = r["duration_us"] / 1e6
            errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
            work = r["bytes"] / MIB if r["doc"].endswith("large") else r["requests"]
            cpu = r.get("cpu_s")
            cpu = cpu * 1e6 / work if isinstance(cpu, float) and work else None
            self.load[(r["doc"], int(r["conns"]))][r["target"]][int(r["round"])] = (
                r["requests"] / secs, r["bytes"] / secs, errors, cpu)
        self.vals = defaultdict(dict)
        for r in rows:
            if r["k"] == "val":
                key = r["name"] if "doc" not in r else f'{r["name"]}/{r["doc"]}'
                self.vals[key][r["target"]] = r
        self.budget = []

    def metric(self, doc):
        return 1 if doc.endswith("large") else 0  # bytes/s for large files, requests/s otherwise

    def rate(self, doc, conns, target):
        rounds = self.load.get((doc, conns), {}).get(target)
        if not rounds:
            return None
        return med(v[self.metric(doc)] for v in rounds.values())

    def errors(self, doc, conns, target):
        rounds = self.load.get((doc, conns), {}).get(target) or {}
        return sum(v[2] for v in rounds.values())

    def ratio(self, doc, conns, ref, who="ours"):
        """Median over rounds of ours ÷ ref, each round's pair measured back to back."""
        by = self.load.get((doc, conns), {})
        ours, other = by.get(who), by.get(ref)
        if not ours or not other:
            return None
        m = self.metric(doc)
        rs = [ours[i][m] / other[i][m] for i in ours if i in other and other[i][m] > 0]
        return med(rs)

    def check(self, item, value, ok, shown, budget):
        verdict = "n/a" if ok is None else ("pass" if ok else "**FAIL**")
        self.budget.append((item, shown, budget, verdict))

    # ---- tables ---------------------------------------------------------------------------------

    def cpu(self, doc, conns, target):
        rounds = self.load.get((doc, conns), {}).get(target)
        return med(v[3] for v in rounds.values()) if rounds else None

    def cpu_ratio(self, doc, conns, ref, who="ours"):
        by = self.load.get((doc, conns), {})
        ours, other = by.get(who), by.get(ref)
        if not ours or not other:
            return None
        return med(ours[i][3] / other[i][3] for i in ours
                   if i in other and ours[i][3] and other[i][3])

    def cpu_table(self, docs, peers):
        """Server CPU time per request (per MiB for large files): the work each server does, which
        other load on a shared machine disturbs far less than requests per second."""
        out = []
        docs = [d for d in docs if any(k[0] == d for k in self.load)]
        peers = [p for p in peers if any(p in self.load[k] for k in self.load if k[0] in docs)]
        if not docs:
            return out
        head = ["document", "conns", "ours"]
        for p in peers:
            head += [NAMES[p], "static ÷ nginx" if p == "static" else f"ours ÷ {NAMES[p]}"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        us = lambda v: "–" if v is None else f"{v:,.0f} µs"  # noqa: E731
        for doc in docs:
            for c in sorted({k[1] for k in self.load if k[0] == doc}):
                cells = [DOCS.get(doc, doc), str(c), us(self.cpu(doc, c, "ours"))]
                for p in peers:
                    r = (self.cpu_ratio(doc, c, "nginx", "static") if p == "static"
                         else self.cpu_ratio(doc, c, p))
                    cells += [us(self.cpu(doc, c, p)), fmt_ratio(r)]
                out.append("| " + " | ".join(cells) + " |")
        return out

    def load_table(self, docs, peers):
        out = []
        docs = [d for d in docs if any(k[0] == d for k in self.load)]
        if not docs:
            return out
        peers = [p for p in peers if any(p in self.load[k] for k in self.load if k[0] in docs)]
        head = ["document", "conns", "ours"]
        for p in peers:
            head += [NAMES[p], "static ÷ nginx" if p == "static" else f"ours ÷ {NAMES[p]}"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for doc in docs:
            large = doc.endswith("large")
            for c in sorted({k[1] for k in self.load if k[0] == doc}):
                cells = [DOCS.get(doc, doc), str(c), fmt_rate(self.rate(doc, c, "ours"), large)]
                for p in peers:
                    r = self.ratio(doc, c, "nginx", "static") if p == "static" else self.ratio(doc, c, p)
                    cells += [fmt_rate(self.rate(doc, c, p), large), fmt_ratio(r)]
                out.append("| " + " | ".join(cells) + " |")
        errs = [(d, c, t, self.errors(d, c, t)) for (d, c), by in self.load.items() if d in docs
                for t in by if self.errors(d, c, t)]
        if errs:
            out.append("")
            out.append("Errors reported by wrk (these rows are suspect): " + ", ".join(
                f"{NAMES.get(t, t)} {d} c={c}: {n:.0f}" for d, c, t, n in errs))
        return out

    def cold(self):
        by = defaultdict(lambda: defaultdict(list))
        for r in self.rows:
            if r["k"] != "cold":
                continue
            d, p = str(r["direct"]).split(), str(r["proxied"]).split()
            if d[0] != "200" or p[0] != "200":
                by[(r["size"], r["target"])]["failed"].append(1)
                continue
            by[(r["size"], r["target"])]["d_ttfb"].append(float(d[1]))
            by[(r["size"], r["target"])]["p_ttfb"].append(float(p[1]))
            by[(r["size"], r["target"])]["d_total"].append(float(d[2]))
            by[(r["size"], r["target"])]["p_total"].append(float(p[2]))
            by[(r["size"], r["target"])]["added"].append(float(p[1]) - float(d[1]))
            by[(r["size"], r["target"])]["ratio"].append(float(d[2]) / float(p[2]))
            by[(r["size"], r["target"])]["bytes"].append(float(p[3]))
        out = ["| file | server | misses | direct TTFB | proxied TTFB | added TTFB: median "
               "(quartiles) | direct time | proxied time | proxied ÷ direct throughput |",
               "|" + "---|" * 9]
        for (size, t), v in sorted(by.items(), key=lambda kv: (kv[0][0] != "small", kv[0][1] != "ours")):
            if not v["d_ttfb"]:
                out.append(f"| {size} | {NAMES.get(t, t)} | failed | | | | | | |")
                continue
            mb = med(v["bytes"]) / MIB
            label = "4 KiB" if size == "small" else f"{mb:,.0f} MiB"
            out.append(
                f"| {label} | {NAMES.get(t, t)} | {len(v['d_ttfb'])} | {med(v['d_ttfb']) * 1e3:.2f} ms | "
                f"{med(v['p_ttfb']) * 1e3:.2f} ms | {med(v['added']) * 1e3:+.2f} ms "
                f"({quartiles(v['added'])}) | "
                f"{med(v['d_total']) * 1e3:.1f} ms | {med(v['p_total']) * 1e3:.1f} ms | "
                f"{fmt_ratio(med(v['ratio']))} |")
        self.cold_by = by
        return out if len(out) > 2 else []

    def herd(self):
        out = ["| server | upstream fetches | correct answers | seconds | X-Cache of the answers |",
               "|---|---|---|---|---|"]
        self.herds = {}
        for r in self.rows:
            if r["k"] != "herd":
                continue
            res = json.loads(r["result"]) if isinstance(r["result"], str) else {}
            self.herds[r["target"]] = (int(r["fetches"]), res)
            caches = ", ".join(f"{k} {v}" for k, v in sorted(res.get("cache", {}).items()))
            out.append(f"| {NAMES.get(r['target'], r['target'])} | {int(r['fetches'])} | "
                       f"{res.get('ok', '?')}/{res.get('n', '?')} | {res.get('seconds', '?')} | {caches} |")
        return out if len(out) > 2 else []

    def memory(self):
        targets = [t for t in NAMES if any(t in self.vals[k] for k in self.vals if "rss" in k)]
        peak64 = {}
        for k, by in self.vals.items():
            if k.startswith("peak64_rss_kb/"):
                for t, r in by.items():
                    peak64[t] = max(peak64.get(t, 0), r["value"])
        out = ["| server | idle RSS | peak RSS, 64 connections (tarballs) | "
               "peak RSS, first huge packument |", "|---|---|---|---|"]
        for t in targets:
            idle = self.vals["idle_rss_kb"].get(t, {}).get("value")
            huge = self.vals["huge_peak_rss_kb"].get(t, {}).get("value")
            mb = lambda kb: "–" if kb is None else f"{kb / 1024:.1f} MiB"  # noqa: E731
            out.append(f"| {NAMES[t]} | {mb(idle)} | {mb(peak64.get(t))} | {mb(huge)} |")
        self.peak64 = peak64
        many = self.vals["many_huge_peak_rss_kb"].get("ours")
        if many:
            out.append("")
            out.append(f"Three huge packuments rewritten at once ({many.get('detail', '?')}): peak RSS "
                       f"{many['value'] / 1024:.1f} MiB (documents over 64 MiB are rewritten two at a time).")
        return out

    def install(self):
        """An install of many packuments through an upstream 50 ms away: cold, within the TTL, and
        past it (served stale while a background refresh runs, so it should cost what fresh costs)."""
        by = self.vals["install_seconds"]
        out = ["| metadata | seconds | X-Cache of the packuments |", "|---|---|---|"]
        for label in ("cold", "fresh", "expired"):
            r = by.get(label)
            if r:
                out.append(f"| {label} | {r['value']:.2f} | {r.get('detail', '')} |")
        return out if len(out) > 2 else []

    def startup(self):
        v = self.vals
        out = ["| measure | ours | reference | ratio |", "|---|---|---|---|"]
        b = v["binary_bytes"]
        ours_bin = b.get("ours") or b.get("ours-release")
        if ours_bin:
            label = "static binary" if "ours" in b else "release binary (no static build in this run)"
            for ref in ("nora", "nginx"):
                if ref in b:
                    out.append(f"| {label} size vs {NAMES[ref]} | {ours_bin['value'] / MIB:.2f} MiB "
                               f"({ours_bin['value']:,.0f} B) | {b[ref]['value'] / MIB:.2f} MiB | "
                               f"{fmt_ratio(ours_bin['value'] / b[ref]['value'])} |")
        n = int(v["seeded"].get("ours", {}).get("value", 0))
        s1, sN = v["startup_s"].get("ours-1"), v["startup_s"].get("ours-N")
        if s1 and sN:
            out.append(f"| start to first served artifact, {n:,} cached | {sN['value'] * 1e3:.1f} ms | "
                       f"{s1['value'] * 1e3:.1f} ms (1 cached) | {fmt_ratio(sN['value'] / s1['value'])} |")
        t1, tN = v["stats_s"].get("ours-1"), v["stats_s"].get("ours-N")
        if t1 and tN:
            out.append(f"| `proxy stats`, {n:,} cached | {tN['value'] * 1e3:.1f} ms | "
                       f"{t1['value'] * 1e3:.1f} ms (1 cached) | {fmt_ratio(tN['value'] / t1['value'])} |")
        return out

    def budget_checks(self):
        def worst(doc, ref, conns, who):
            rs = [self.ratio(doc, c, ref, who) for c in conns]
            rs = [r for r in rs if r is not None]
            return min(rs) if rs else None

        def ratio_item(item, doc, ref, conns, want, who="ours"):
            r = worst(doc, ref, conns, who)
            if r is None and who != "ours":
                return
            label = f"{item} (static binary)" if who == "static" else item
            self.check(label, r, None if r is None else r >= want,
                       "–" if r is None else f"{r:.2f}× (worst of c={','.join(map(str, conns))})",
                       f"≥ {want}×")

        for who in ("ours", "static"):
            for doc in ("npm-small", "pypi-small"):
                if any(k[0] == doc for k in self.load):
                    ratio_item(f"{DOCS[doc]} vs NORA", doc, "nora", (8, 64), 1.0, who)
                    ratio_item(f"{DOCS[doc]} vs nginx", doc, "nginx", (8, 64), 0.35, who)
            for doc in ("npm-large", "pypi-large"):
                if any(k[0] == doc for k in self.load):
                    ratio_item(f"{DOCS[doc]} vs nginx", doc, "nginx", (1, 8, 64), 0.5, who)
                    ratio_item(f"{DOCS[doc]} vs NORA", doc, "nora", (1, 8, 64), 1.0, who)
            if any(k[0] == "oci-large" for k in self.load):
                ratio_item(f"{DOCS['oci-large']} vs nginx", "oci-large", "nginx", (1, 8, 64), 0.5, who)
        ratio_item("npm tarball, 4 KiB vs Verdaccio", "npm-small", "verdaccio", (8, 64), 10)
        if any(k[0] == "pypi-small" for k in self.load):
            ratio_item("wheel, 4 KiB vs proxpi", "pypi-small", "proxpi", (8, 64), 10)
        for size in ("small", "large"):
            c = getattr(self, "cold_by", {}).get((size, "ours"))
            if c and c["added"]:
                a = med(c["added"]) * 1e3
                label = "4 KiB" if size == "small" else f"{med(c['bytes']) / MIB:,.0f} MiB"
                self.check(f"cold miss, {label}: TTFB added over direct", a, a <= 2,
                           f"{a:+.2f} ms (median of {len(c['added'])})", "≤ 2 ms")
        h = getattr(self, "herds", {}).get("ours")
        if h:
            self.check(f"{h[1].get('n', '?')} concurrent misses: upstream fetches", h[0],
                       h[0] == 1 and h[1].get("ok") == h[1].get("n"),
                       f"{h[0]} ({h[1].get('ok')}/{h[1].get('n')} correct)", "exactly 1")
        for who in ("ours", "static"):
            sfx = " (static binary)" if who == "static" else ""
            kb = self.vals["idle_rss_kb"].get(who, {}).get("value")
            if kb:
                self.check("idle RSS" + sfx, kb, kb <= 10 * 1024, f"{kb / 1024:.1f} MiB", "≤ 10 MiB")
            kb = getattr(self, "peak64", {}).get(who)
            if kb:
                self.check("peak RSS at 64 connections" + sfx, kb, kb <= 32 * 1024,
                           f"{kb / 1024:.1f} MiB", "≤ 32 MiB")
            r = self.vals["huge_peak_rss_kb"].get(who)
            if r:
                kb = r["value"]
                parts = str(r.get("detail", "")).split()
                doc = f" ({int(parts[1]) / 1e6:.0f} MB document)" if len(parts) > 1 else ""
                self.check("peak RSS, first huge packument" + sfx, kb, kb <= 64 * 1024,
                           f"{kb / 1024:.1f} MiB{doc}", "≤ 64 MiB")
        many = self.vals["many_huge_peak_rss_kb"].get("ours")
        if many:
            kb = many["value"]
            self.check("peak RSS, three huge packuments at once", kb, kb <= 128 * 1024,
                       f"{kb / 1024:.1f} MiB", "≤ 128 MiB")
        # Past its TTL, metadata is answered from the cache while it is refreshed: the install must
        # not pay the upstream's round trips again (revalidating in line would cost about what cold does).
        cold, expired = self.vals["install_seconds"].get("cold"), self.vals["install_seconds"].get("expired")
        if cold and expired and cold["value"] > 0:
            r = expired["value"] / cold["value"]
            self.check("install through a 50 ms upstream, metadata past its TTL ÷ cold", r, r <= 0.25,
                       f"{r:.2f}× ({expired['value']:.2f} s vs {cold['value']:.2f} s)", "≤ 0.25×")
        b = self.vals["binary_bytes"].get("ours")
        if b:
            self.check("static binary size", b["value"], b["value"] <= 6 * MIB,
                       f"{b['value'] / MIB:.2f} MiB", "≤ 6 MiB")
        s = self.vals["startup_s"].get("ours-N")
        n = int(self.vals["seeded"].get("ours", {}).get("value", 0))
        if s:
            ms = s["value"] * 1e3
            self.check(f"start to first response, {n:,} artifacts", ms, ms <= 100, f"{ms:.1f} ms", "≤ 100 ms")

    def oci_pull(self):
        by = self.vals["oci_pull_s"]
        ours, reg = by.get("ours"), by.get("registry")
        if not ours:
            return None
        rows = ["| image | through the proxy (cached) | from docker-registry | ratio |",
                "|---|---|---|---|"]
        ratio = reg["value"] / ours["value"] if reg and ours["value"] else None
        rows.append(f"| {ours.get('detail', '?')} | {ours['value'] * 1e3:,.0f} ms | "
                    f"{reg['value'] * 1e3:,.0f} ms | {fmt_ratio(ratio)} |" if reg else
                    f"| {ours.get('detail', '?')} | {ours['value'] * 1e3:,.0f} ms | – | – |")
        rows.append("")
        rows.append("The ratio is the registry's time over ours: above 1, the pull through the "
                    "proxy was faster.")
        return rows

    def render(self):
        m = self.machine
        lines = [BEGIN, ""]
        lines.append(f"Run: {m.get('date', '?')}, commit `{m.get('commit', '?')}`, mode {m.get('mode', '?')}.  ")
        lines.append(f"Machine: {m.get('cpu', '?')}, {m.get('cores', 0):.0f} cores, "
                     f"{m.get('mem_gib', '?')} GiB, Linux {m.get('kernel', '?')}, {m.get('os', '?')}; "
                     f"load average {m.get('load_start', '?')} at the start, "
                     f"{self.machine_end.get('load_end', '?')} at the end (the machine is shared).  ")
        lines.append(f"Tools: nginx {m.get('nginx', '?')}, wrk {m.get('wrk', '?')}, "
                     f"NORA {m.get('nora') or 'not installed'}, Node {m.get('node') or '–'}.")
        lines.append("")
        sections = [
            ("1. Cached artifacts (requests/s; large files in MiB/s)",
             self.load_table(["npm-small", "npm-large", "pypi-small", "pypi-large", "oci-large"],
                             ["static", "nginx", "nora", "verdaccio", "proxpi", "devpi"])),
            ("1b. Server CPU time per request (per MiB for large files; lower is better, so a "
             "ratio below 1 favours us)",
             self.cpu_table(["npm-small", "npm-large", "pypi-small", "pypi-large", "oci-large",
                             "npm-meta", "pypi-page"],
                            ["static", "nginx", "nora", "verdaccio", "proxpi", "devpi"])),
            ("2. Cached metadata (requests/s)",
             self.load_table(["npm-meta", "pypi-page"],
                             ["static", "nginx", "nora", "verdaccio", "proxpi", "devpi"])),
            ("3. Cold miss through the loopback fake upstream (nginx)", self.cold()),
            ("4. Concurrent misses of one file", self.herd()),
            ("5. Memory (RSS of the whole process tree)", self.memory()),
            ("5c. An install through a slow upstream: metadata cold, fresh and past its TTL",
             self.install()),
            ("6. Binary, start-up and `proxy stats`", self.startup()),
            ("7. A cached image pulled with skopeo (`skopeo copy docker://… dir:…`, wall time)",
             self.oci_pull()),
        ]
        self.budget_checks()
        lines.append("### Budget")
        lines.append("")
        lines.append("| item | measured | budget | verdict |")
        lines.append("|---|---|---|---|")
        for item, shown, budget, verdict in self.budget:
            lines.append(f"| {item} | {shown} | {budget} | {verdict} |")
        lines.append("")
        for title, body in sections:
            lines.append(f"### {title}")
            lines.append("")
            lines.extend(body or ["(no result)"])
            lines.append("")
        if self.notes:
            lines.append("### Notes from the run")
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
            lines.append("")
        lines.append(END)
        return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--markdown", help="file whose generated part is replaced")
    ap.add_argument("--check", action="store_true", help="print; fail if a scenario has no result")
    a = ap.parse_args()
    rep = Report(load(a.results))
    text = rep.render()
    if a.markdown:
        try:
            old = open(a.markdown).read()
        except FileNotFoundError:
            old = "# Benchmarks\n\n" + BEGIN + "\n" + END + "\n"
        if BEGIN in old and END in old:
            new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", lambda _: text, old,
                         flags=re.S)
        else:
            new = old.rstrip() + "\n\n" + text
        with open(a.markdown, "w") as f:
            f.write(new)
    else:
        print(text)
    if a.check:
        missing = []
        if not rep.load:
            missing.append("load")
        if not getattr(rep, "herds", {}).get("ours"):
            missing.append("concurrent misses")
        if ("small", "ours") not in getattr(rep, "cold_by", {}):
            missing.append("cold misses")
        if not rep.vals["startup_s"]:
            missing.append("start-up")
        if not rep.vals["idle_rss_kb"]:
            missing.append("memory")
        if rep.vals["oci_tools"] and not rep.vals["oci_pull_s"].get("ours"):
            missing.append("OCI image pull")
        if missing:
            sys.exit("benchmark smoke run: no result for " + ", ".join(missing))
        print("benchmark smoke run: every scenario produced a result (performance is not asserted)")


if __name__ == "__main__":
    main()
