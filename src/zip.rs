//! A reader for zip archives as OSV publishes its advisories (`{ecosystem}/all.zip`): the
//! central directory (zip64 too, as an archive of 200,000 records needs), stored and deflated
//! entries (miniz_oxide's raw inflate), each entry's size and CRC-32 checked.
//!
//! Archives may be hostile: every offset and length is checked against the file before it is
//! used, the central directory and each entry are read up to a cap, an entry inflates to no more
//! than the caller's limit, and anything that does not add up is an error, never a panic. Names
//! are only reported (never used as paths).

use std::io::{self, Read, Seek, SeekFrom};

/// The central directory is held in memory: at most this much of it.
const MAX_DIRECTORY: u64 = 512 << 20;
/// The end-of-central-directory record is within this many bytes of the end (22 + a comment).
const EOCD_SEARCH: u64 = 22 + 65_535;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zip: {}", msg.into()))
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64le(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// An open archive: its central directory, read.
pub(crate) struct Zip<R> {
    r: R,
    len: u64,
    directory: Vec<u8>,
    count: u64,
}

/// One entry of the central directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    pub size: u64,
    offset: u64,
}

impl Entry {
    pub(crate) fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
}

impl<R: Read + Seek> Zip<R> {
    /// Finds and reads the central directory.
    pub(crate) fn open(mut r: R) -> io::Result<Zip<R>> {
        let len = r.seek(SeekFrom::End(0))?;
        let tail_len = len.min(EOCD_SEARCH);
        let mut tail = vec![0u8; tail_len as usize];
        r.seek(SeekFrom::Start(len - tail_len))?;
        r.read_exact(&mut tail)?;
        let at = (0..tail.len().saturating_sub(21))
            .rev()
            .find(|&i| u32le(&tail, i) == 0x0605_4b50)
            .ok_or_else(|| bad("not a zip archive (no end of central directory)"))?;
        let eocd = &tail[at..];
        let mut count = u64::from(u16le(eocd, 10));
        let mut size = u64::from(u32le(eocd, 12));
        let mut offset = u64::from(u32le(eocd, 16));
        let eocd_pos = len - tail_len + at as u64;
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            // Zip64: a locator just before the record points at the zip64 record.
            let loc_pos = eocd_pos
                .checked_sub(20)
                .ok_or_else(|| bad("zip64 locator missing"))?;
            let mut loc = [0u8; 20];
            r.seek(SeekFrom::Start(loc_pos))?;
            r.read_exact(&mut loc)?;
            if u32le(&loc, 0) != 0x0706_4b50 {
                return Err(bad("zip64 locator missing"));
            }
            let rec_pos = u64le(&loc, 8);
            if rec_pos.checked_add(56).is_none_or(|end| end > loc_pos) {
                return Err(bad("zip64 record out of bounds"));
            }
            let mut rec = [0u8; 56];
            r.seek(SeekFrom::Start(rec_pos))?;
            r.read_exact(&mut rec)?;
            if u32le(&rec, 0) != 0x0606_4b50 {
                return Err(bad("zip64 end of central directory missing"));
            }
            count = u64le(&rec, 32);
            size = u64le(&rec, 40);
            offset = u64le(&rec, 48);
        }
        if size > MAX_DIRECTORY {
            return Err(bad(format!(
                "central directory of {size} bytes is too large"
            )));
        }
        if offset.checked_add(size).is_none_or(|end| end > len) {
            return Err(bad("central directory out of bounds"));
        }
        // Every entry takes at least 46 bytes: a count beyond that is a lie.
        if count > size / 46 {
            return Err(bad(format!("{count} entries cannot fit in {size} bytes")));
        }
        let mut directory = vec![0u8; size as usize];
        r.seek(SeekFrom::Start(offset))?;
        r.read_exact(&mut directory)?;
        Ok(Zip {
            r,
            len,
            directory,
            count,
        })
    }

    /// The entries, in directory order.
    pub(crate) fn entries(&self) -> io::Result<Vec<Entry>> {
        let d = &self.directory;
        let mut out = Vec::with_capacity(self.count.min(1 << 20) as usize);
        let mut at = 0usize;
        for _ in 0..self.count {
            if at + 46 > d.len() || u32le(d, at) != 0x0201_4b50 {
                return Err(bad("broken central directory"));
            }
            let flags = u16le(d, at + 8);
            let method = u16le(d, at + 10);
            let crc = u32le(d, at + 16);
            let mut compressed = u64::from(u32le(d, at + 20));
            let mut size = u64::from(u32le(d, at + 24));
            let (nlen, xlen, clen) = (
                usize::from(u16le(d, at + 28)),
                usize::from(u16le(d, at + 30)),
                usize::from(u16le(d, at + 32)),
            );
            let mut offset = u64::from(u32le(d, at + 42));
            let name_at = at + 46;
            let end = name_at + nlen + xlen + clen;
            if end > d.len() {
                return Err(bad("central directory entry out of bounds"));
            }
            let name = String::from_utf8_lossy(&d[name_at..name_at + nlen]).into_owned();
            // The zip64 extra field holds, in order, the values whose 32-bit fields are full.
            let mut extra = &d[name_at + nlen..name_at + nlen + xlen];
            while extra.len() >= 4 {
                let (id, n) = (u16le(extra, 0), usize::from(u16le(extra, 2)));
                let body = extra
                    .get(4..4 + n)
                    .ok_or_else(|| bad("broken extra field"))?;
                if id == 1 {
                    let mut k = 0;
                    for field in [&mut size, &mut compressed, &mut offset] {
                        if *field == 0xFFFF_FFFF {
                            if k + 8 > body.len() {
                                return Err(bad("short zip64 extra field"));
                            }
                            *field = u64le(body, k);
                            k += 8;
                        }
                    }
                }
                extra = &extra[4 + n..];
            }
            out.push(Entry {
                name,
                method,
                flags,
                crc,
                compressed,
                size,
                offset,
            });
            at = end;
        }
        Ok(out)
    }

    /// An entry's bytes, if it inflates to at most `max` bytes; its length and CRC-32 are
    /// checked against the directory.
    pub(crate) fn read(&mut self, e: &Entry, max: u64) -> io::Result<Vec<u8>> {
        if e.flags & 1 != 0 {
            return Err(bad(format!("{}: encrypted", e.name)));
        }
        if e.size > max {
            return Err(bad(format!(
                "{}: {} bytes, more than {max}",
                e.name, e.size
            )));
        }
        // A deflated entry is never much more than its inflated size (stored blocks add 5
        // bytes per 64 KiB); anything larger is not worth reading.
        if e.compressed > e.size + e.size / 8 + 1024 {
            return Err(bad(format!("{}: compressed size does not add up", e.name)));
        }
        if e.offset.checked_add(30).is_none_or(|end| end > self.len) {
            return Err(bad(format!("{}: local header out of bounds", e.name)));
        }
        let mut head = [0u8; 30];
        self.r.seek(SeekFrom::Start(e.offset))?;
        self.r.read_exact(&mut head)?;
        if u32le(&head, 0) != 0x0403_4b50 {
            return Err(bad(format!("{}: no local header", e.name)));
        }
        let skip = u64::from(u16le(&head, 26)) + u64::from(u16le(&head, 28));
        let data_at = e.offset + 30 + skip;
        if data_at
            .checked_add(e.compressed)
            .is_none_or(|end| end > self.len)
        {
            return Err(bad(format!("{}: data out of bounds", e.name)));
        }
        self.r.seek(SeekFrom::Start(data_at))?;
        let mut raw = Vec::with_capacity(e.compressed as usize);
        (&mut self.r).take(e.compressed).read_to_end(&mut raw)?;
        let data = match e.method {
            0 => raw,
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(&raw, e.size as usize)
                .map_err(|err| bad(format!("{}: inflate: {:?}", e.name, err.status)))?,
            m => {
                return Err(bad(format!(
                    "{}: compression method {m} is not supported",
                    e.name
                )));
            }
        };
        if data.len() as u64 != e.size {
            return Err(bad(format!(
                "{}: {} bytes, the directory says {}",
                e.name,
                data.len(),
                e.size
            )));
        }
        if crate::gzip::crc32_update(0, &data) != e.crc {
            return Err(bad(format!("{}: CRC-32 mismatch", e.name)));
        }
        Ok(data)
    }
}

/// Writes a zip archive of `(name, data, deflate?)` entries, for tests; `zip64` writes zip64
/// records as an archive of more than 65,535 entries has them.
#[cfg(test)]
pub(crate) fn write(entries: &[(&str, &[u8], bool)], zip64: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut dir = Vec::new();
    for (name, data, deflate) in entries {
        let body = if *deflate {
            miniz_oxide::deflate::compress_to_vec(data, 6)
        } else {
            data.to_vec()
        };
        let crc = crate::gzip::crc32_update(0, data);
        let method: u16 = if *deflate { 8 } else { 0 };
        let offset = out.len() as u32;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0]);
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&body);
        dir.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        dir.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
        dir.extend_from_slice(&method.to_le_bytes());
        dir.extend_from_slice(&[0; 4]);
        dir.extend_from_slice(&crc.to_le_bytes());
        dir.extend_from_slice(&(body.len() as u32).to_le_bytes());
        dir.extend_from_slice(&(data.len() as u32).to_le_bytes());
        dir.extend_from_slice(&(name.len() as u16).to_le_bytes());
        dir.extend_from_slice(&(if zip64 { 12u16 } else { 0 }).to_le_bytes());
        // Comment length, disk, attributes; with zip64 the offset is in the extra field.
        dir.extend_from_slice(&[0; 10]);
        dir.extend_from_slice(&(if zip64 { 0xFFFF_FFFF } else { offset }).to_le_bytes());
        dir.extend_from_slice(name.as_bytes());
        if zip64 {
            dir.extend_from_slice(&1u16.to_le_bytes());
            dir.extend_from_slice(&8u16.to_le_bytes());
            dir.extend_from_slice(&u64::from(offset).to_le_bytes());
        }
    }
    let dir_at = out.len() as u64;
    out.extend_from_slice(&dir);
    let n = entries.len() as u64;
    if zip64 {
        let rec_at = out.len() as u64;
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(dir.len() as u64).to_le_bytes());
        out.extend_from_slice(&dir_at.to_le_bytes());
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&rec_at.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let short = |v: u64, full: u64| if zip64 { full } else { v };
    out.extend_from_slice(&(short(n, 0xFFFF) as u16).to_le_bytes());
    out.extend_from_slice(&(short(n, 0xFFFF) as u16).to_le_bytes());
    out.extend_from_slice(&(short(dir.len() as u64, 0xFFFF_FFFF) as u32).to_le_bytes());
    out.extend_from_slice(&(short(dir_at, 0xFFFF_FFFF) as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn all(bytes: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
        let mut z = Zip::open(Cursor::new(bytes))?;
        let mut out = Vec::new();
        for e in z.entries()? {
            let data = z.read(&e, 1 << 20)?;
            out.push((e.name, data));
        }
        Ok(out)
    }

    #[test]
    fn stored_deflated_and_zip64() {
        let big = b"{\"id\":\"MAL-1\"}".repeat(500);
        let entries: &[(&str, &[u8], bool)] = &[
            ("MAL-1.json", b"{\"id\":\"MAL-1\"}", false),
            ("dir/", b"", false),
            ("GHSA-x.json", &big, true),
        ];
        for zip64 in [false, true] {
            let z = write(entries, zip64);
            let got = all(&z).unwrap();
            assert_eq!(got.len(), 3);
            assert_eq!(
                got[0],
                ("MAL-1.json".to_string(), b"{\"id\":\"MAL-1\"}".to_vec())
            );
            assert_eq!(got[2].1, big);
            let e = Zip::open(Cursor::new(&z)).unwrap().entries().unwrap();
            assert!(e[1].is_dir() && !e[0].is_dir());
        }
    }

    #[test]
    fn refuses_what_does_not_add_up() {
        let z = write(&[("a.json", b"hello world", true)], false);
        // Not a zip at all, or cut short.
        assert!(Zip::open(Cursor::new(b"PK\x03\x04 nothing".to_vec())).is_err());
        assert!(Zip::open(Cursor::new(&z[..z.len() - 5])).is_err());
        // A flipped data byte fails the inflate or the CRC.
        let mut flipped = z.clone();
        flipped[40] ^= 0x55;
        assert!(all(&flipped).is_err());
        // More than the caller allows.
        let mut zip = Zip::open(Cursor::new(&z)).unwrap();
        let e = zip.entries().unwrap().remove(0);
        assert!(zip.read(&e, 5).is_err());
        // An entry count the directory cannot hold.
        let mut lying = z.clone();
        let n = lying.len();
        lying[n - 12] = 0xFF;
        lying[n - 11] = 0x7F;
        assert!(Zip::open(Cursor::new(&lying)).is_err());
    }
}
