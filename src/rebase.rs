//! Stored metadata does not name this proxy's public URL. Rewrites write a placeholder origin in
//! its place, and the placeholder is swapped for `base_url` as a document is served. So a cache
//! filled on one machine (`proxy mirror`, then `export`/`import`) serves correct links on another
//! whose `base_url` differs, and changing `base_url` needs no refetch.
//!
//! The placeholder has no border (no proper prefix equal to a suffix), so occurrences never
//! overlap, and a window of `len - 1` bytes is enough to find one split across reads.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

/// What rewrites use as the base URL. `.invalid` (RFC 2606) can name no real host.
pub(crate) const TOKEN: &str = "http://proxy-base.invalid";

/// The served length of a stored document of `size` bytes holding `count` placeholders.
pub(crate) fn length(size: u64, count: u64, base: &str) -> u64 {
    let delta = base.len() as i128 - TOKEN.len() as i128;
    (i128::from(size) + i128::from(count) * delta).max(0) as u64
}

/// A strong validator for the served representation: the stored digest with the base it got.
pub(crate) fn etag(sha256: &str, base: &str) -> String {
    let h = Sha256::digest(format!("{sha256}\n{base}").as_bytes());
    crate::registry::hex(&h[..16])
}

/// Finds placeholders in `window`; returns their start offsets and where a carry must begin.
fn scan(window: &[u8]) -> (Vec<usize>, usize) {
    let t = TOKEN.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + t.len() <= window.len() {
        if &window[i..i + t.len()] == t {
            found.push(i);
            i += t.len();
        } else {
            i += 1;
        }
    }
    let after_last = found.last().map_or(0, |&s| s + t.len());
    let tail = window.len().saturating_sub(t.len() - 1);
    (found, after_last.max(tail))
}

/// Counts placeholders in a stream written in pieces.
#[derive(Default)]
pub(crate) struct Counter {
    carry: Vec<u8>,
    pub(crate) count: u64,
}

impl Counter {
    pub(crate) fn feed(&mut self, buf: &[u8]) {
        let mut window = std::mem::take(&mut self.carry);
        window.extend_from_slice(buf);
        let (found, keep) = scan(&window);
        self.count += found.len() as u64;
        self.carry = window[keep..].to_vec();
    }
}

/// Reads a stored document with every placeholder replaced by `to`.
pub(crate) struct Rebased<R> {
    inner: R,
    to: Vec<u8>,
    carry: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<R: Read> Rebased<R> {
    pub(crate) fn new(inner: R, to: &str) -> Rebased<R> {
        Rebased {
            inner,
            to: to.as_bytes().to_vec(),
            carry: Vec::new(),
            out: Vec::new(),
            pos: 0,
            eof: false,
        }
    }
}

impl<R: Read> Read for Rebased<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if self.eof {
                return Ok(0);
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = self.inner.read(&mut chunk)?;
            let mut window = std::mem::take(&mut self.carry);
            window.extend_from_slice(&chunk[..n]);
            self.out.clear();
            self.pos = 0;
            let keep = if n == 0 {
                self.eof = true;
                window.len()
            } else {
                scan(&window).1
            };
            let (found, _) = scan(&window[..keep]);
            let mut at = 0;
            for s in found {
                self.out.extend_from_slice(&window[at..s]);
                self.out.extend_from_slice(&self.to);
                at = s + TOKEN.len();
            }
            self.out.extend_from_slice(&window[at..keep]);
            self.carry = window[keep..].to_vec();
        }
        let n = (self.out.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads through a reader that returns at most `step` bytes at a time.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn placeholders_are_counted_and_replaced_across_any_split() {
        let doc = format!(
            r#"{{"a":"{TOKEN}/npm/x/-/x-1.tgz","b":"{TOKEN}{TOKEN}","c":"http://proxy-base.inval"}}"#
        );
        let base = "https://mirror.example/p";
        let want = doc.replace(TOKEN, base);
        for step in [1, 2, 7, 24, 25, 26, 1000] {
            let mut c = Counter::default();
            for piece in doc.as_bytes().chunks(step) {
                c.feed(piece);
            }
            assert_eq!(c.count, 3, "step {step}");
            let mut out = String::new();
            Rebased::new(Trickle(doc.as_bytes(), step), base)
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, want, "step {step}");
            assert_eq!(length(doc.len() as u64, 3, base), want.len() as u64);
        }
        assert_ne!(etag("ab", "http://a"), etag("ab", "http://b"));
    }
}
