//! The tar format of bundles: POSIX ustar entries, with a pax header for a name over 100 bytes
//! or a size over 8 GiB; only regular files. The reader takes exactly what the writer makes and
//! refuses anything else (a damaged header, a stream cut short, other entry types).

use std::collections::HashMap;
use std::io::{self, Read, Write};

/// The bytes an entry takes in the archive: its header(s) and its body padded to 512.
pub(super) fn entry_len(name: &str, size: u64) -> u64 {
    let pax = if name.len() > 100 || size > 0o77777777777 {
        512 + padded(pax_records(name, size).len() as u64)
    } else {
        0
    };
    pax + 512 + padded(size)
}

fn padded(n: u64) -> u64 {
    n.div_ceil(512) * 512
}

/// The pax extended header records for a name and size.
fn pax_records(name: &str, size: u64) -> Vec<u8> {
    let mut records = Vec::new();
    for (k, v) in [("path", name.to_string()), ("size", size.to_string())] {
        let rec = |len: usize| format!("{len} {k}={v}\n");
        let mut len = rec(0).len();
        while rec(len).len() != len {
            len = rec(len).len();
        }
        records.extend_from_slice(rec(len).as_bytes());
    }
    records
}

/// The end-of-archive marker: two zero blocks.
pub(super) fn end(w: &mut dyn Write) -> io::Result<()> {
    w.write_all(&[0u8; 1024])
}

/// Writes one regular-file entry: a pax header first when the name or size does not fit ustar.
pub(super) fn write_entry(
    w: &mut dyn Write,
    name: &str,
    size: u64,
    body: &mut dyn Read,
) -> io::Result<()> {
    if name.len() > 100 || size > 0o77777777777 {
        let records = pax_records(name, size);
        w.write_all(&header("pax", records.len() as u64, b'x'))?;
        w.write_all(&records)?;
        pad(w, records.len() as u64)?;
    }
    // With a pax path the ustar name is only a fallback for old readers; keep it short and ASCII.
    let ustar_name = if name.len() > 100 { "long-name" } else { name };
    w.write_all(&header(ustar_name, size.min(0o77777777777), b'0'))?;
    let n = io::copy(&mut body.take(size), w)?;
    if n != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{name}: file shorter than its record"),
        ));
    }
    pad(w, size)
}

fn pad(w: &mut dyn Write, size: u64) -> io::Result<()> {
    let rem = (512 - size % 512) % 512;
    w.write_all(&[0u8; 512][..rem as usize])
}

fn header(name: &str, size: u64, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    let name = name.as_bytes();
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = width - 1);
        h[at..at + width].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, 0o644);
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, size);
    octal(&mut h, 136, 12, 0);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) size: u64,
}

pub(crate) struct TarReader<R> {
    pub(crate) r: R,
}

impl<R: Read> TarReader<R> {
    /// The next regular file; `None` at the end-of-archive marker. Anything malformed, including
    /// a stream that ends without the marker, is an error.
    pub(crate) fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        let mut pax: HashMap<String, String> = HashMap::new();
        loop {
            let mut h = [0u8; 512];
            self.r
                .read_exact(&mut h)
                .map_err(|_| invalid("bundle is truncated (no end-of-archive marker)".into()))?;
            if h.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let stored = parse_octal(&h[148..156])
                .ok_or_else(|| invalid("bad header checksum field".into()))?;
            let mut copy = h;
            copy[148..156].copy_from_slice(b"        ");
            let sum: u64 = copy.iter().map(|&b| u64::from(b)).sum();
            if sum != stored {
                return Err(invalid("damaged tar header (checksum mismatch)".into()));
            }
            let mut size =
                parse_octal(&h[124..136]).ok_or_else(|| invalid("bad size field".into()))?;
            let end = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
            let mut name = String::from_utf8_lossy(&h[..end]).into_owned();
            let prefix_end = h[345..500].iter().position(|&b| b == 0).unwrap_or(155);
            if h[257..262] == *b"ustar" && prefix_end > 0 {
                name = format!(
                    "{}/{name}",
                    String::from_utf8_lossy(&h[345..345 + prefix_end])
                );
            }
            match h[156] {
                b'x' => {
                    if size > 1 << 20 {
                        return Err(invalid("pax header too large".into()));
                    }
                    let mut buf = Vec::new();
                    self.read_body(size, &mut buf)?;
                    pax = parse_pax(&buf).ok_or_else(|| invalid("bad pax header".into()))?;
                }
                b'0' | 0 => {
                    if let Some(p) = pax.remove("path") {
                        name = p;
                    }
                    if let Some(s) = pax.remove("size") {
                        size = digits(&s).ok_or_else(|| invalid("bad pax size".into()))?;
                    }
                    return Ok(Some(Entry { name, size }));
                }
                _ => return Err(invalid(format!("unexpected tar entry type for {name:?}"))),
            }
        }
    }

    /// Reads an entry's body (and its padding) into `out`.
    pub(crate) fn read_body(&mut self, size: u64, out: &mut dyn Write) -> io::Result<()> {
        let n = io::copy(&mut (&mut self.r).take(size), out)?;
        if n != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "bundle is truncated",
            ));
        }
        let rem = (512 - size % 512) % 512;
        let mut padding = [0u8; 512];
        self.r
            .read_exact(&mut padding[..rem as usize])
            .map_err(|_| io::Error::new(io::ErrorKind::UnexpectedEof, "bundle is truncated"))
    }
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    // Octal digits only: `from_str_radix` alone would also take a sign.
    if !s.bytes().all(|c| matches!(c, b'0'..=b'7')) {
        return None;
    }
    u64::from_str_radix(s, 8).ok()
}

/// A decimal number of digits only (`parse` alone would also take a sign).
fn digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_pax(buf: &[u8]) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ')?;
        let len = usize::try_from(digits(std::str::from_utf8(&rest[..sp]).ok()?)?).ok()?;
        if len <= sp + 1 || len > rest.len() {
            return None;
        }
        let rec = std::str::from_utf8(&rest[sp + 1..len])
            .ok()?
            .strip_suffix('\n')?;
        let (k, v) = rec.split_once('=')?;
        out.insert(k.to_string(), v.to_string());
        rest = &rest[len..];
    }
    Some(out)
}

impl<R: Read> TarReader<R> {
    /// Reads an entry's body into nothing, and its padding.
    pub(super) fn skip_body(&mut self, size: u64) -> io::Result<()> {
        self.read_body(size, &mut io::sink())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_round_trip_with_long_names() {
        let long = format!("files/{}", "d/".repeat(80) + "x.tgz");
        let mut buf = Vec::new();
        write_entry(&mut buf, "a", 3, &mut &b"abc"[..]).unwrap();
        write_entry(&mut buf, &long, 600, &mut &[7u8; 600][..]).unwrap();
        buf.extend_from_slice(&[0u8; 1024]);
        let mut t = TarReader { r: &buf[..] };
        let e = t.next_entry().unwrap().unwrap();
        assert_eq!((e.name.as_str(), e.size), ("a", 3));
        let mut body = Vec::new();
        t.read_body(3, &mut body).unwrap();
        assert_eq!(body, b"abc");
        let e = t.next_entry().unwrap().unwrap();
        assert_eq!((e.name.as_str(), e.size), (long.as_str(), 600));
        t.read_body(600, &mut io::sink()).unwrap();
        assert!(t.next_entry().unwrap().is_none());
    }

    #[test]
    fn damage_is_detected() {
        let mut buf = Vec::new();
        write_entry(&mut buf, "a", 3, &mut &b"abc"[..]).unwrap();
        buf.extend_from_slice(&[0u8; 1024]);
        let mut bad = buf.clone();
        bad[10] ^= 1;
        assert!(TarReader { r: &bad[..] }.next_entry().is_err());
        let cut = &buf[..512 + 100];
        let mut t = TarReader { r: cut };
        t.next_entry().unwrap();
        assert!(t.read_body(3, &mut io::sink()).is_err() || t.next_entry().is_err());
        assert!(TarReader { r: &buf[..512] }.next_entry().is_ok());
    }

    // See: issue #10 (found in review beside the fuzz findings): numeric tar fields took a sign.
    #[test]
    fn r10_numeric_tar_fields_are_digits_only() {
        assert_eq!(parse_octal(b"0000644\0"), Some(0o644));
        assert_eq!(parse_octal(b" 17 \0"), Some(0o17));
        assert_eq!(parse_octal(b"+0000644"), None);
        assert_eq!(parse_octal(b"0000648\0"), None);
        assert_eq!(digits("600"), Some(600));
        for bad in ["+600", "-1", "", "6 0"] {
            assert_eq!(digits(bad), None, "{bad:?}");
        }
        let pax = |b: &[u8]| parse_pax(b).map(|m| m.len());
        assert_eq!(pax(b"12 size=600\n"), Some(1));
        assert_eq!(pax(b"+12 size=600\n"), None);
    }

    #[test]
    fn entry_lengths_are_what_is_written() {
        for (name, size) in [
            ("a", 0u64),
            ("a", 1),
            ("a", 512),
            ("a", 513),
            (&"n".repeat(150) as &str, 1000),
        ] {
            let mut buf = Vec::new();
            write_entry(&mut buf, name, size, &mut &vec![1u8; size as usize][..]).unwrap();
            assert_eq!(buf.len() as u64, entry_len(name, size), "{name} {size}");
        }
    }
}
