//! Fuzz-style tests of every hand-written parser of hostile input: JSON (`json/`), the PyPI
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
//!
//! This file holds the generator, the mutator and the loop; the targets live by family:
//! `documents.rs` (JSON, HTML anchors), `lockfiles.rs`, `archives.rs` (tar, gzip, zip, OSV,
//! version ranges), `indexes.rs` (distribution and OS indexes, Hex's protobuf, apk packages) and
//! `requests.rs` (router paths, small codecs, HTTP header values).

mod archives;
mod documents;
mod indexes;
mod lockfiles;
mod requests;

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::gzip::Trickle;

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
