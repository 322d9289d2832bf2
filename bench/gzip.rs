//! `make bench-gzip` (bench/gzip.sh): decompression throughput of `src/gzip.rs` on one large gzip
//! file. The module is compiled in here by path, as it is, so the benchmark needs no public API
//! and measures exactly the code the proxy runs.
//!
//! usage: gzip <candidate> <file.gz>; prints one line: candidate, input and output size, the best
//! of five runs in CPU seconds (from /proc/thread-self/schedstat: on a shared machine, far steadier
//! than wall time) and in wall seconds, MB/s of output per CPU second, and the peak RSS of this
//! process.
//! candidates: `stream` (gzip::Decoder over the file, output read in 64 KiB pieces and dropped),
//! `memory` (`gzip::decode`: the whole file in memory, the whole output returned), `crc32` (only
//! the CRC-32 over the decompressed bytes, to see its share).

#![allow(clippy::print_stdout, clippy::print_stderr)]

// Under `cargo clippy --all-targets` this is built with cfg(test) but without the test harness:
// the module's tests are then empty.
#[allow(dead_code, unused_imports)]
#[path = "../src/gzip.rs"]
mod gzip;

use std::io::Read;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, candidate, path] = args.as_slice() else {
        eprintln!("usage: gzip stream|memory|crc32 FILE.gz");
        std::process::exit(2);
    };
    let input_len = std::fs::metadata(path).expect("input").len();
    let plain = if candidate == "crc32" {
        let mut v = Vec::new();
        let file = std::fs::File::open(path).expect("input");
        gzip::Decoder::new(file, u64::MAX)
            .read_to_end(&mut v)
            .expect("decode");
        v
    } else {
        Vec::new()
    };
    let (mut best, mut best_wall) = (f64::MAX, f64::MAX);
    let mut out_len = 0u64;
    for _ in 0..5 {
        let (t, cpu) = (Instant::now(), cpu_seconds());
        out_len = match candidate.as_str() {
            "stream" => {
                let file = std::fs::File::open(path).expect("input");
                let mut d = gzip::Decoder::new(file, u64::MAX);
                let mut buf = vec![0u8; 64 * 1024];
                let mut n = 0u64;
                loop {
                    match d.read(&mut buf).expect("decode") {
                        0 => break n,
                        k => n += k as u64,
                    }
                }
            }
            "memory" => {
                let gz = std::fs::read(path).expect("input");
                gzip::decode(&gz, usize::MAX).expect("decode").len() as u64
            }
            "crc32" => {
                std::hint::black_box(gzip::crc32_update(0, &plain));
                plain.len() as u64
            }
            other => panic!("unknown candidate {other}"),
        };
        best = best.min(cpu_seconds() - cpu);
        best_wall = best_wall.min(t.elapsed().as_secs_f64());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    println!(
        "{candidate}\t{input_len}\t{out_len}\t{best:.3}\t{best_wall:.3}\t{:.0}\t{hwm}",
        out_len as f64 / best / 1e6
    );
}

/// CPU time this thread has run, in seconds.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: u64 = s
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("schedstat");
    ns as f64 / 1e9
}
