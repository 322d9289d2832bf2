//! Fuzz-style tests of every hand-written parser of hostile input: JSON (`json.rs`), the PyPI
//! HTML anchor scanner, lockfiles (the TOML and Elixir-term readers among them), the bundle's tar
//! reader, gzip, the zip reader and OSV records (`advisories.rs`), version ranges, router paths (and
//! every registry's `route` of them), Hex's protobuf reader, percent and base64 decoding, HTTP header values (dates, ranges,
//! ETags), and distribution indexes (Debian's `Release` and `Packages`, RPM's `repomd.xml` and
//! `primary.xml` through the XML scanner, in xz, zstd and gzip; Alpine's `APKINDEX`, Arch's
//! databases) and apk's package check.
//!
//! Each target starts from seeds (real fixtures from `testdata/` where there are some) and feeds
//! its parser a bounded loop of generated and mutated inputs: bit flips, byte inserts and deletes,
//! truncation, splices of two inputs, interesting tokens (`{`, `"`, `\u`, `<a `, `%`, `..`),
//! huge numbers and deep nesting. Inputs are bounded in size and the loop in count, so a run ends;
//! a parser must never panic on any of them, and where a parser promises more (a copy byte for
//! byte, the same answer whatever the read sizes, only safe path segments) that is checked too.
//!
//! `make test` runs a short loop (about a second in all); `make fuzz` a long one:
//! `PROXY_FUZZ_ITERS` sets the inputs per target and `PROXY_FUZZ_SEED` the generator's seed
//! (printed with every failure, so a failure can be replayed). A failing input is also written
//! to the temp directory. Deterministic: xorshift64*, no crate.

use std::io::{self, BufReader, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::gzip::Trickle;
use crate::json::{self, Seg};
use crate::{registry, url};

/// xorshift64* (Vigna): small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One to four mutations of `base`; `other` is spliced from, `tokens` inserted.
    fn mutate(&mut self, base: &[u8], other: &[u8], tokens: &[&[u8]], max: usize) -> Vec<u8> {
        let mut v = base.to_vec();
        for _ in 0..1 + self.below(4) {
            let len = v.len();
            let at = self.below(len + 1);
            match self.below(12) {
                0 | 1 if len > 0 => {
                    let i = self.below(len);
                    v[i] ^= 1 << self.below(8);
                }
                2 if len > 0 => {
                    let i = self.below(len);
                    v[i] = self.byte();
                }
                3 => v.insert(at, self.byte()),
                4 if at < len => {
                    let n = 1 + self.below((len - at).min(32));
                    v.drain(at..at + n);
                }
                5 => v.truncate(at),
                6 | 7 => {
                    let t = *self.pick(tokens);
                    v.splice(at..at, t.iter().copied());
                }
                8 if at < len => {
                    // Repeat a piece of the input somewhere else.
                    let n = 1 + self.below((len - at).min(64));
                    let piece = v[at..at + n].to_vec();
                    let to = self.below(len + 1);
                    v.splice(to..to, piece);
                }
                9 if !other.is_empty() => {
                    // The head of this input on the tail of another.
                    let from = self.below(other.len());
                    v.truncate(at);
                    v.extend_from_slice(&other[from..]);
                }
                10 => {
                    // Deep nesting: an opener (or any token) many times over.
                    let t = *self.pick(tokens);
                    let n = 1 + self.below(3000);
                    v.splice(at..at, t.repeat(n));
                }
                11 => {
                    let n = 1 + self.below(400);
                    let digits: Vec<u8> = (0..n).map(|_| b'0' + self.below(10) as u8).collect();
                    v.splice(at..at, digits);
                }
                _ => {}
            }
        }
        v.truncate(max);
        v
    }
}

/// Tokens that matter to most text parsers here.
const COMMON: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"(",
    b")",
    b"\"",
    b"'",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"\\u00",
    b"\\x",
    b":",
    b",",
    b"=",
    b"=>",
    b"%",
    b"%2f",
    b"%2e",
    b"%+f",
    b"..",
    b"/",
    b"#",
    b"?",
    b"&",
    b"\0",
    b"\n",
    b"\r\n",
    b"\t",
    b" ",
    b"-",
    b"+",
    b"1e999",
    b"-0",
    b"0x",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98\x80",
    b"18446744073709551616",
    b"true",
    b"null",
];

/// Inputs per target: `PROXY_FUZZ_ITERS` if set, else the target's short default.
fn iterations(default: usize) -> usize {
    #[allow(clippy::disallowed_methods)]
    let v = std::env::var("PROXY_FUZZ_ITERS").ok();
    v.and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn seed() -> u64 {
    #[allow(clippy::disallowed_methods)]
    let v = std::env::var("PROXY_FUZZ_SEED").ok();
    v.and_then(|v| v.parse().ok()).unwrap_or(0x5eed_f022)
}

fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `target` on every seed, then on `default` (or `PROXY_FUZZ_ITERS`) mutated inputs of at
/// most `max` bytes. A panic is reported with the target, the seed and the input.
#[allow(clippy::print_stderr)]
fn fuzz(
    name: &str,
    default: usize,
    seeds: Vec<Vec<u8>>,
    tokens: &[&[u8]],
    max: usize,
    mut target: impl FnMut(&[u8]),
) {
    let (iters, seed) = (iterations(default), seed());
    let mut rng = Rng::new(
        seed ^ name
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    );
    let mut pool = if seeds.is_empty() {
        vec![Vec::new()]
    } else {
        seeds
    };
    let fixed = pool.len();
    let mut slowest = (Duration::ZERO, Vec::new());
    let begin = cpu_time();
    for i in 0..fixed + iters {
        let input = if i < fixed {
            pool[i].clone()
        } else {
            let (a, b) = (rng.below(pool.len()), rng.below(pool.len()));
            rng.mutate(&pool[a], &pool[b], tokens, max)
        };
        let start = Instant::now();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&input))) {
            let file = std::env::temp_dir().join(format!("proxy-fuzz-{name}-{seed}-{i}.bin"));
            let _ = std::fs::write(&file, &input);
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "fuzz {name}: input {i} (PROXY_FUZZ_SEED={seed}) panicked: {msg}\n\
                 input ({} bytes, saved to {}): {:?}",
                input.len(),
                file.display(),
                String::from_utf8_lossy(&input[..input.len().min(600)])
            );
        }
        if start.elapsed() > slowest.0 {
            slowest = (start.elapsed(), input.clone());
        }
        // Mutants become bases too (a bounded pool), so that mutations stack up.
        if i >= fixed {
            if pool.len() < fixed + 200 {
                pool.push(input);
            } else {
                let k = fixed + rng.below(200);
                pool[k] = input;
            }
        }
    }
    // The summary is for `make fuzz`, which shows it (`--nocapture`).
    // The slowest input is kept for a look: a parser that is slow on it may be quadratic.
    let file = std::env::temp_dir().join(format!("proxy-fuzz-{name}-{seed}-slowest.bin"));
    let _ = std::fs::write(&file, &slowest.1);
    eprintln!(
        "fuzz {name}: {} inputs (seed {seed}) in {:.2?} of CPU; slowest {:.2?} (wall) for {} \
         bytes, saved to {}",
        fixed + iters,
        cpu_time().saturating_sub(begin),
        slowest.0,
        slowest.1.len(),
        file.display()
    );
}

/// CPU time of this thread (steadier than wall time on a shared machine), or zero where Linux's
/// schedstat is missing. Only reported, never asserted on.
fn cpu_time() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

// --- json.rs ------------------------------------------------------------------------------

/// Wants every string (or, replacing, every other level), so every path of the rewriter runs.
struct Echo {
    replace: bool,
}

impl json::Visitor for Echo {
    fn wants(&self, path: &[Seg]) -> bool {
        !self.replace || path.len() % 2 == 1
    }

    fn string(&mut self, _: &[Seg], value: &str) -> Option<String> {
        self.replace.then(|| format!("{value}\"\\\u{1}é"))
    }
}

/// Leaves out members with keys of odd length (by path) and elements whose bytes are a multiple
/// of three long (by content).
struct LeaveOut;

impl json::Visitor for LeaveOut {
    fn drop(&mut self, path: &[Seg]) -> bool {
        path.last()
            .and_then(Seg::key)
            .is_some_and(|k| k.len() % 2 == 1)
    }

    fn wants_verdict(&self, path: &[Seg]) -> bool {
        matches!(path.last(), Some(Seg::Index(_)))
    }

    fn keep(&mut self, _: &[Seg], raw: &[u8]) -> bool {
        !raw.len().is_multiple_of(3)
    }
}

fn json_rewrite(input: &mut dyn io::BufRead, replace: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    json::rewrite(input, &mut out, &mut Echo { replace })?;
    Ok(out)
}

#[test]
fn json_rewriter() {
    let seeds = [
        "conda/proxy-fixtures/noarch/repodata.json",
        "conda/proxy-fixtures/channeldata.json",
        "composer/packages.json",
        "composer/p2/proxy-fixtures/alpha.json",
        "lockfiles/npm-v3/package-lock.json",
        "lockfiles/sbom/bom.cdx.json",
    ]
    .map(fixture)
    .to_vec();
    let tokens = [COMMON, &[b"{\"a\":", b"[1,", b"\"\\u0041\"", b"\"\\/\""]].concat();
    fuzz("json", 500, seeds, &tokens, 16 << 10, |input| {
        let whole = json_rewrite(&mut &input[..], false);
        // A rewriter that replaces nothing copies the document byte for byte.
        if let Ok(out) = &whole {
            assert_eq!(out, input, "unchanged document not copied as it was");
        }
        // What serde_json accepts, the rewriter must follow too.
        if serde_json::from_slice::<serde_json::Value>(input).is_ok() {
            assert!(whole.is_ok(), "valid JSON refused: {whole:?}");
        }
        // Read sizes change nothing.
        let cap = 1 + input.len() % 7;
        let small = json_rewrite(&mut BufReader::with_capacity(cap, input), false);
        assert_eq!(small.is_ok(), whole.is_ok(), "buffer of {cap}: {small:?}");
        if let Ok(out) = &small {
            assert_eq!(out, input, "buffer of {cap}");
        }
        let _ = json_rewrite(&mut &input[..], true);
        // Leaving members and elements out keeps a document JSON.
        let mut left = Vec::new();
        if json::rewrite(&mut &input[..], &mut left, &mut LeaveOut).is_ok() && whole.is_ok() {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&left).is_ok()
                    || serde_json::from_slice::<serde_json::Value>(input).is_err(),
                "left JSON no more: {}",
                String::from_utf8_lossy(&left)
            );
        }
    });
}

/// Keeps every string value it is offered.
struct Keep(Vec<String>);

impl json::Visitor for Keep {
    fn wants(&self, _: &[Seg]) -> bool {
        true
    }

    fn string(&mut self, _: &[Seg], value: &str) -> Option<String> {
        self.0.push(value.to_string());
        None
    }
}

#[test]
fn json_string_escapes() {
    // One string per document: the rewriter must decode exactly what serde_json decodes, and
    // refuse what it refuses.
    let seeds = [
        r#""plain""#,
        r#""a\"b\\c\/d\b\f\n\r\t""#,
        r#""\u00e9\u20AC\ud83d\ude00""#,
        "\"caf\u{e9} \u{1f600}\"",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec();
    let tokens: &[&[u8]] = &[
        b"\\",
        b"\\u",
        b"\\ud800",
        b"\\udc00",
        b"\\u+04",
        b"\\u-",
        b"0",
        b"a",
        b"F",
        b"\"",
        b"\\\"",
        b"\x01",
        b"\xff",
        b"\xed\xa0\x80",
    ];
    fuzz("json-strings", 1500, seeds, tokens, 256, |input| {
        if !input.trim_ascii_start().starts_with(b"\"") {
            return; // not a string document: the other JSON target's job
        }
        let mut keep = Keep(Vec::new());
        let ours = json::rewrite(&mut &input[..], &mut io::sink(), &mut keep).map(|()| keep.0);
        let theirs = serde_json::from_slice::<String>(input);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, std::slice::from_ref(b)),
            (Err(_), Err(_)) => {}
            _ => panic!("json.rs {ours:?}, serde_json {theirs:?}"),
        }
    });
}

// --- PyPI simple pages ----------------------------------------------------------------------

fn anchors(input: &mut dyn io::BufRead, replace: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    crate::html::rewrite_anchors(input, &mut out, &mut |attrs| {
        (replace && !attrs.is_empty()).then(|| "https://h/a?b=\"c\"&d".to_string())
    })?;
    Ok(out)
}

#[test]
fn html_anchor_scanner() {
    let page = "<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.1\">\
        </head><body><h1>Links for x</h1>\n\
        <a href=\"https://files.example/x-1.0.tar.gz#sha256=00ff\" data-requires-python=\"&gt;=3.8\" \
        data-dist-info-metadata=\"sha256=aa\">x-1.0.tar.gz</a><br/>\n\
        <a href='../../packages/x-1.1-py3-none-any.whl' data-yanked>x-1.1</a>\n\
        <A HREF=x-2.0.zip>x</A><a\nhref = \"&#x2F;p&amp;q&#47;\"></a><abbr>no</abbr></body></html>";
    let seeds = vec![page.as_bytes().to_vec(), b"<a href=".to_vec()];
    let tokens = [
        COMMON,
        &[b"<a ", b"<A\t", b"href=", b"&amp;", b"&#x", b"&#", b">"],
    ]
    .concat();
    fuzz("html", 400, seeds, &tokens, 16 << 10, |input| {
        // Tags are bounded (64 KiB) and inputs are smaller: every input is copied through.
        let whole = anchors(&mut &input[..], false).expect("copied through");
        assert_eq!(whole, input, "unchanged page not copied as it was");
        // Leaving anchors out never fails on a bounded input (or it says why).
        let mut out = Vec::new();
        let _ = crate::html::drop_anchors(&mut &input[..], &mut out, &mut |a| a.len() % 2 == 1);
        let cap = 1 + input.len() % 5;
        let small = anchors(&mut BufReader::with_capacity(cap, input), true);
        assert_eq!(
            small.ok(),
            anchors(&mut &input[..], true).ok(),
            "buffer of {cap}"
        );
    });
}

// --- lockfiles (TOML and Elixir-term readers included) ----------------------------------------

/// TOML, term, lockfile and purl syntax.
const LOCK_TOKENS: &[&[u8]] = &[
    b"[[package]]\n",
    b"[a.\"b\".c]\n",
    b"a.b = ",
    b"\"\"\"",
    b"'''",
    b"{ a = [",
    b"\\U",
    b"%{",
    b"{:hex, :",
    b"[hex: ",
    b"\"a\": ",
    b"\" => ",
    b":\"q\"",
    b"pkg:npm/a@1",
    b"sha256-",
    b"  resolved ",
    b"GRAPH\n  a (1.0.0)\n",
    b".vm.box = \"a/b\"\n",
    b"/raw/r/",
];

#[test]
fn lockfiles() {
    // The file name selects the format: Cargo.lock, poetry.lock, uv.lock and pylock.toml go
    // through the TOML reader, mix.lock through the term reader.
    let files = [
        "cargo/Cargo.lock",
        "composer/composer.lock",
        "gem/Gemfile.lock",
        "go/go.mod",
        "go/go.sum",
        "hex/mix.lock",
        "npm-v1/package-lock.json",
        "npm-v2/npm-shrinkwrap.json",
        "npm-v3/package-lock.json",
        "nuget/packages.lock.json",
        "os/package-urls.txt",
        "pip/requirements.txt",
        "pnpm-v5/pnpm-lock.yaml",
        "pnpm-v6/pnpm-lock.yaml",
        "pnpm-v9/pnpm-lock.yaml",
        "poetry/poetry.lock",
        "pub/pubspec.lock",
        "pylock/pylock.toml",
        "sbom/bom.cdx.json",
        "sbom/sbom.spdx.json",
        "uv/uv.lock",
        "yarn-berry/yarn.lock",
        "yarn-v1/yarn.lock",
        "apt/apt-uris.txt",
        "dnf/dnf-urls.txt",
        "chef/Berksfile.lock",
        "vagrant/Vagrantfile",
        "vagrant/lab.boxes",
        "raw/downloads.txt",
    ];
    // Each seed is its file name, a newline and its text: mutations of the name send a text to
    // another format's parser, or to detection by content.
    let seeds = files
        .map(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            [
                format!("{name}\n").into_bytes(),
                fixture(&format!("lockfiles/{f}")),
            ]
            .concat()
        })
        .to_vec();
    let tokens = [COMMON, LOCK_TOKENS].concat();
    fuzz("lockfile", 400, seeds, &tokens, 16 << 10, |input| {
        let text = String::from_utf8_lossy(input);
        let (name, text) = text.split_once('\n').unwrap_or(("input.txt", &text));
        let _ = crate::lockfile::parse_file(Path::new(name), text);
    });
}

#[test]
fn toml_and_term_readers() {
    // The readers by themselves: TOML documents, and mix.lock lines for the term reader.
    let seeds = [
        "cargo/Cargo.lock",
        "poetry/poetry.lock",
        "uv/uv.lock",
        "pylock/pylock.toml",
        "hex/mix.lock",
    ]
    .map(|f| fixture(&format!("lockfiles/{f}")))
    .to_vec();
    let tokens = [COMMON, LOCK_TOKENS].concat();
    fuzz("toml-term", 250, seeds, &tokens, 16 << 10, |input| {
        let text = String::from_utf8_lossy(input);
        let (_, lines) = crate::lockfile::read_alone(&text);
        assert_eq!(lines.len(), text.lines().count());
    });
}

// --- tar (bundle import) ----------------------------------------------------------------------

/// A ustar header with a valid checksum.
fn tar_header(name: &str, size: u64, kind: u8) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    fix_tar_checksum(&mut h);
    h
}

fn fix_tar_checksum(h: &mut [u8]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn padded(body: &[u8]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.resize(body.len().div_ceil(512) * 512, 0);
    v
}

#[test]
fn tar_reader() {
    let pax = b"30 path=files/a/very/long.tgz\n12 size=600\n";
    let built = [
        tar_header("pax", pax.len() as u64, b'x'),
        padded(pax),
        tar_header("long-name", 600, b'0'),
        padded(&[7u8; 600]),
        tar_header("manifest.json", 2, b'0'),
        padded(b"{}"),
        vec![0u8; 1024],
    ]
    .concat();
    let mut seeds = [
        "hex/tarballs/proxy_fixture_a-1.0.0.tar",
        "hex/tarballs/proxy_fixture_b-1.1.0.tar",
    ]
    .map(fixture)
    .to_vec();
    seeds.push(built);
    let tokens: &[&[u8]] = &[
        b"0",
        b"7",
        b"x",
        b"\0",
        b" ",
        b"ustar",
        b"99999999999",
        b"18446744073709551615",
        b"=",
    ];
    let mut rng = Rng::new(seed());
    fuzz("tar", 300, seeds, tokens, 32 << 10, |input| {
        // Most mutants get their header checksums fixed, or the reader would stop at the first.
        let mut input = input.to_vec();
        if rng.below(4) != 0 {
            for block in input.chunks_exact_mut(512) {
                if block.iter().any(|&b| b != 0) {
                    fix_tar_checksum(block);
                }
            }
        }
        // As bundles (a whole archive) and as OS indexes and packages read them (a segment).
        for mut tar in [
            crate::tar::Reader::new(&input[..]),
            crate::tar::Reader::segment(&input[..]),
        ] {
            for _ in 0..100 {
                match tar.next() {
                    Ok(Some(_)) => {
                        if tar.read_body(&mut io::sink()).is_err() {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
    });
}

// --- gzip ---------------------------------------------------------------------------------

#[test]
fn gzip_decoder() {
    use crate::gzip;
    let mut seeds = [
        "gem/specs.4.8.gz",
        "gem/prerelease_specs.4.8.gz",
        "npm/proxy-fixture-a-1.0.0.tgz",
        "cargo/pfa-1.0.0.crate",
        "hex/packages/proxy_fixture_b",
    ]
    .map(fixture)
    .to_vec();
    let two = [seeds[0].clone(), seeds[1].clone()].concat();
    seeds.extend([
        two,
        gzip::stored(b"abc", 2 | 4 | 8 | 16),
        gzip::stored(b"", 0),
    ]);
    let tokens: &[&[u8]] = &[
        b"\x1f\x8b\x08",
        b"\0",
        b"\xff",
        b"\x01\x00\x00\xff\xff",
        b"\x1f",
    ];
    fuzz("gzip", 200, seeds, tokens, 32 << 10, |input| {
        // A small cap: mutants that inflate far are cut short (and the cap is exercised).
        let whole = gzip::decode(input, 16 << 10);
        // The streaming decoder gives the same answer whatever the read sizes.
        let (chunk, piece) = (1 + input.len() % 5, 1 + input.len() % 61);
        let small = gzip::stream(input, 16 << 10, chunk, piece);
        assert_eq!(small.is_ok(), whole.is_ok(), "{small:?} / {whole:?}");
        if let (Ok(a), Ok(b)) = (&small, &whole) {
            assert_eq!(a, b);
        }
    });
}

// --- zip, OSV records and version ranges --------------------------------------------------

#[test]
fn zip_reader() {
    use std::io::Cursor;
    let mut seeds = vec![fixture("osv/npm-all.zip")];
    seeds.push(crate::zip::write(
        &[("a.json", b"{}", false), ("b/", b"", false)],
        false,
    ));
    seeds.push(crate::zip::write(&[("c.json", &[b'x'; 300], true)], true));
    let tokens: &[&[u8]] = &[
        b"PK\x03\x04",
        b"PK\x01\x02",
        b"PK\x05\x06",
        b"PK\x06\x06",
        b"PK\x06\x07",
        b"\xff\xff\xff\xff",
        b"\xff\xff",
        b"\x08\x00",
        b"\x01\x00\x08\x00",
    ];
    fuzz("zip", 300, seeds, tokens, 16 << 10, |input| {
        let Ok(mut z) = crate::zip::Zip::open(Cursor::new(input)) else {
            return;
        };
        let Ok(entries) = z.entries() else {
            return;
        };
        for e in entries.iter().take(64) {
            // A small cap: what inflates further is refused, never held.
            if let Ok(data) = z.read(e, 64 << 10) {
                assert_eq!(data.len() as u64, e.size);
            }
        }
    });
}

#[test]
fn osv_records_and_version_ranges() {
    let seeds = [
        "osv/npm/MAL-2024-0001.json",
        "osv/npm/GHSA-aaaa-bbbb-cccc.json",
        "osv/malicious-packages/osv/malicious/pypi/Evil_Pkg/MAL-2024-0100.json",
    ]
    .map(fixture)
    .to_vec();
    fuzz("osv", 300, seeds, COMMON, 8 << 10, |input| {
        if let Ok(crate::advisories::Parsed::Record(r)) = crate::advisories::parse(input) {
            for a in &r.affected {
                let ranges: crate::advisories::Ranges = serde_json::from_str(&a.ranges).unwrap();
                ranges.affects(&a.ecosystem, "1.0.0");
            }
        }
    });
    let ranges: Vec<Vec<u8>> = [
        "^1.2.3 || >=2.0.0 <2.1.0",
        "1.2 - 2.3.4",
        ">=2.0,<2.5,!=2.3.*",
        "~=1.4.5",
        "[1.0,2.0),(,0.5]",
        "~> 1.2, != 1.2.5",
        ">= 1:1.0-1 << 2.0~rc1",
    ]
    .iter()
    .map(|r| r.as_bytes().to_vec())
    .collect();
    let ecosystems = [
        "npm", "cargo", "pypi", "maven", "nuget", "gem", "hex", "debian", "rpm", "composer",
    ];
    fuzz("version-ranges", 400, ranges, COMMON, 256, |input| {
        let text = String::from_utf8_lossy(input);
        for eco in ecosystems {
            if let Ok(r) = crate::version::Range::parse(eco, &text) {
                for v in ["1.0.0", "2.4", "1:1.5-2", "0.0.0-0", &text] {
                    r.contains(v);
                }
            }
            crate::version::compare(crate::version::scheme(eco), &text, "1.0");
        }
    });
}

// --- distribution indexes -----------------------------------------------------------------

/// Debian's `Release` and `Packages` and RPM's `repomd.xml` and `primary.xml`, plain and
/// compressed (the compressed seeds come from `decompress`'s tests), through their registries'
/// rewrites: never a panic, and whatever the rewrite reads, what it writes is the input, byte for
/// byte (these documents are signed or hash-pinned).
#[test]
fn distribution_indexes() {
    use crate::registry::{Collected, Registry, debian::Debian, rpm::Rpm, testing};
    let sha = "ab".repeat(32);
    let release = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\nAcquire-By-Hash: yes\n\
         SHA256:\n {sha} 50 main/binary-amd64/Packages\n {sha} 9 main/binary-amd64/Packages.xz\n\
         -----BEGIN PGP SIGNATURE-----\n=AfjX\n-----END PGP SIGNATURE-----\n"
    );
    let packages = format!(
        "Package: curl\nVersion: 1:7.88.1-10\nDepends: libc6,\n libcurl4\n\
         Filename: pool/main/c/curl/curl_7.88.1-10_amd64.deb\nSHA256: {sha}\n\n"
    );
    let repomd = format!(
        "<?xml version=\"1.0\"?><repomd><data type=\"primary\"><checksum type=\"sha256\">{sha}\
         </checksum><location href=\"repodata/{sha}-primary.xml.gz\"/></data></repomd>"
    );
    let primary = format!(
        "<metadata><package type=\"rpm\"><name>a</name><arch>noarch</arch>\
         <version epoch=\"0\" ver=\"1\" rel=\"1\"/><checksum type=\"sha256\">{sha}</checksum>\
         <summary>a &amp; b</summary><location href=\"Packages/a-1-1.noarch.rpm\"/></package></metadata>"
    );
    // Each seed: a digit picking the document kind, then the document.
    let seeds = vec![
        [b"0".to_vec(), release.into_bytes()].concat(),
        [b"1".to_vec(), packages.into_bytes()].concat(),
        [b"1".to_vec(), fixture("lockfiles/apt/apt-uris.txt")].concat(),
        [b"2".to_vec(), repomd.into_bytes()].concat(),
        [b"3".to_vec(), primary.into_bytes()].concat(),
        [
            b"1".to_vec(),
            b"\xfd7zXZ\0\0\x04\xe6\xd6\xb4F\x02\0!\x01\x16\0\0\0t/\xe5\xa3".to_vec(),
        ]
        .concat(),
        [b"3".to_vec(), b"(\xb5/\xfd$-\x15\x01\0\xd0Package".to_vec()].concat(),
        [
            b"1".to_vec(),
            crate::gzip::stored(b"Package: a\nFilename: a_1_all.deb\n", 0),
        ]
        .concat(),
    ];
    let tokens: &[&[u8]] = &[
        b"\n",
        b"\n ",
        b": ",
        b"SHA256:",
        b"Filename: ../",
        b"<",
        b">",
        b"\"",
        b"&#x",
        b"<![CDATA[",
        b"]]>",
        b"<!--",
        b"-->",
        b"<?",
        b"?>",
        b"'",
        b"<!DOCTYPE [",
        b"/>",
        b"\xfd7zXZ\0",
        b"\x1f\x8b\x08",
        b"(\xb5/\xfd",
    ];
    let paths = [
        "/dists/stable/InRelease",
        "/dists/stable/main/binary-amd64/Packages.xz",
        "/repo/repodata/repomd.xml",
        &format!("/repo/repodata/{sha}-primary.xml.gz"),
    ];
    let regs: [&dyn Registry; 4] = [&Debian, &Debian, &Rpm, &Rpm];
    fuzz(
        "distribution-index",
        300,
        seeds,
        tokens,
        16 << 10,
        |input| {
            let Some((&kind, doc)) = input.split_first() else {
                return;
            };
            let i = usize::from(kind.wrapping_sub(b'0')) % 4;
            let meta = testing::metadata(regs[i], paths[i], None, &[]);
            let up = testing::upstream_map(regs[i], &[]);
            let ctx = testing::ctx(&up);
            let (mut out, mut found) = (Vec::new(), Collected::default());
            if regs[i]
                .rewrite(&meta, &mut &doc[..], &mut out, &ctx, &mut found)
                .is_ok()
            {
                assert_eq!(out, doc, "a distribution index changed on its way");
            }
            for l in &found.links {
                assert!(l.path.split('/').all(registry::safe_component), "{l:?}");
            }
        },
    );
}

// --- router paths -------------------------------------------------------------------------

#[test]
fn router_paths() {
    let seeds = [
        "/npm/@babel%2fcore",
        "/npm/lodash/-/lodash-4.17.21.tgz",
        "/pypi/simple/requests/",
        "/pypi/packages/ab/cd/requests-2.0.tar.gz#sha256=00",
        "/go/example.com/!upper/x/@v/v1.0.0.zip",
        "/maven/org/apache/x/1.0/x-1.0.pom?a=b",
        "/health",
        "/",
        "/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/00",
        "/debian/n/by-hash/SHA256/00",
        "/rpm/n/repodata/repomd.xml",
        "/alpine/n/v3.20/main/x86_64/APKINDEX.tar.gz",
        "/arch/n/core/os/x86_64/core.db",
        "/v2/n/library/alpine/manifests/latest",
        "/helm/n/index.yaml",
        "/raw/n/a/b",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec();
    // Every key that takes names gets one, `n`, so that named upstreams' paths are routed too.
    let named: Vec<(String, &str)> = registry::named_keys()
        .map(|k| (format!("{k}.n"), "https://n.example/base"))
        .collect();
    let named: Vec<(&str, &str)> = named.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    fuzz("router", 1500, seeds, COMMON, 2 << 10, |input| {
        let url = String::from_utf8_lossy(input);
        if let Ok(crate::router::Route::Registry {
            registry: reg,
            segments,
            query,
        }) = crate::router::route(&url)
        {
            // The registry maps it to a plan or an error, never a panic.
            let up = registry::testing::upstream_map(reg, &named);
            let _ = reg.route(
                &registry::Request {
                    segments: &segments,
                    query: query.as_deref(),
                    accept: None,
                },
                &registry::testing::ctx(&up),
            );
            // Whatever came in, what reaches a registry is safe to build paths from.
            for s in &segments {
                let unsafe_part = |p: &str| p.is_empty() || p == "." || p == "..";
                assert!(!unsafe_part(s), "segment {s:?}");
                assert!(
                    !s.contains('\\') && !s.chars().any(char::is_control),
                    "{s:?}"
                );
                assert!(
                    !s.contains('/') || (s.starts_with('@') && !s.split('/').any(unsafe_part)),
                    "segment {s:?}"
                );
            }
            let q = query.unwrap_or_default();
            assert!(!q.bytes().any(|b| b.is_ascii_control() || b == b' '));
        }
    });
}

// --- Hex protobuf -------------------------------------------------------------------------

#[test]
fn hex_protobuf() {
    let seeds: Vec<Vec<u8>> = ["hex/packages/proxy_fixture_a", "hex/names", "hex/versions"]
        .map(|f| crate::gzip::decode(&fixture(f), 1 << 20).expect("fixture"))
        .to_vec();
    let tokens: &[&[u8]] = &[
        b"\x0a",
        b"\x12",
        b"\x2a\x20",
        b"\x08",
        b"\xff\xff\xff\xff\x0f",
        b"\x80",
    ];
    fuzz("hex", 300, seeds, tokens, 4 << 10, |input| {
        // The protobuf is wrapped in a valid gzip member, so mutations reach the reader.
        let _ = registry::hex::decode_package(&crate::gzip::stored(input, 0));
    });
}

// --- OS registries: Alpine indexes, Arch databases, apk packages ---------------------------

/// Rewrites `tar` (wrapped in a valid gzip member, so mutations reach the tar and text readers)
/// as the registry's index at `path`; where it is taken, the index must pass byte for byte.
fn os_index(reg: &dyn registry::Registry, path: &str, tar: &[u8]) {
    let up = registry::testing::upstream_map(reg, &[]);
    let ctx = registry::testing::ctx(&up);
    let doc = registry::testing::metadata(reg, path, None, &[]);
    let gz = crate::gzip::stored(tar, 0);
    let mut out = Vec::new();
    let mut found = registry::Collected::default();
    if reg
        .rewrite(&doc, &mut &gz[..], &mut out, &ctx, &mut found)
        .is_ok()
    {
        assert!(out == gz, "{path}: the index changed on its way");
    }
}

#[test]
fn os_indexes() {
    let tars: Vec<Vec<u8>> = [
        "arch/repo/testrepo/os/x86_64/testrepo.db",
        "alpine/repo/v3.21/main/x86_64/APKINDEX.tar.gz",
    ]
    .map(|f| crate::gzip::decode(&fixture(f), 1 << 20).expect("fixture"))
    .to_vec();
    let tokens: &[&[u8]] = &[
        b"%FILENAME%\n",
        b"%SHA256SUM%\n",
        b"%PGPSIG%\n",
        b"\n\n",
        b"C:Q1",
        b"P:",
        b"V:",
        b".pkg.tar.zst",
        b"-1:0-1-any",
        b"/desc",
        b"../",
    ];
    fuzz("os-index", 150, tars, tokens, 16 << 10, |input| {
        os_index(&registry::arch::Arch, "/core/os/x86_64/core.db", input);
        os_index(
            &registry::alpine::Alpine,
            "/v3.21/main/x86_64/APKINDEX.tar.gz",
            input,
        );
    });
}

#[test]
fn apk_package_check() {
    let seeds = [
        "alpine/repo/v3.21/main/x86_64/hello-proxy-1.0.0-r0.apk",
        "alpine/repo/v3.21/community/x86_64/fixture-dep-2.1_rc1-r3.apk",
    ]
    .map(fixture)
    .to_vec();
    let tokens: &[&[u8]] = &[
        b"\x1f\x8b\x08\x00",
        b".PKGINFO",
        b"datahash = ",
        b".SIGN.RSA.",
    ];
    fuzz("apk-check", 150, seeds, tokens, 8 << 10, |input| {
        let check = |piece: usize| {
            let mut c = registry::Algo::ApkControlSha1
                .check()
                .expect("a part's check");
            for p in input.chunks(piece.max(1)) {
                c.update(p);
            }
            c.finish()
        };
        // Whatever the pieces the file arrives in, the same answer.
        assert_eq!(check(input.len()), check(7), "pieces changed the answer");
    });
}

// --- small codecs and HTTP header values ----------------------------------------------------

#[test]
fn codecs_and_header_values() {
    let seeds = [
        "@scope%2Fname",
        "a%20b%e2%82%ac",
        "bytes=0-9",
        "bytes=-5",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "W/\"a\", \"b\"",
        "YWJj+/==",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec();
    fuzz("codecs", 2000, seeds, COMMON, 512, |input| {
        let s = String::from_utf8_lossy(input);
        if let Some(decoded) = url::percent_decode(&s) {
            // Strict: every `%` starts two hex digits.
            let b = s.as_bytes();
            for (i, _) in s.match_indices('%') {
                let hex = b.get(i + 1..i + 3).unwrap_or_default();
                assert!(
                    hex.len() == 2 && hex.iter().all(u8::is_ascii_hexdigit),
                    "{s:?} decoded to {decoded:?}"
                );
            }
            assert_eq!(
                url::percent_decode(&url::escape(&decoded)).as_ref(),
                Some(&decoded)
            );
        }
        let _ = registry::base64_decode(&s);
        let len = input.len() as u64;
        if let crate::http::Range::Part(a, b) = crate::http::range(&s, len) {
            assert!(a <= b && b < len, "{s:?} over {len}: {a}-{b}");
        }
        let _ = crate::http::parse_date(&s);
        let _ = crate::http::none_match(&s, "\"abc\"");
    });
}

#[test]
fn the_mutator_is_deterministic_and_bounded() {
    let run = || {
        let mut rng = Rng::new(7);
        (0..200)
            .map(|_| rng.mutate(b"{\"a\":[1,2]}", b"<a href=x>", COMMON, 100))
            .collect::<Vec<_>>()
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert!(a.iter().all(|v| v.len() <= 100));
    assert!(a.iter().any(|v| v.len() > 20), "nothing was inserted");
    assert!(a.iter().any(|v| v.len() < 11), "nothing was removed");
    let mut out = Vec::new();
    Trickle::new(b"abcdef", 4).read_to_end(&mut out).unwrap();
    assert_eq!(out, b"abcdef");
}
