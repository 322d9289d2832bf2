//! A bundle's volumes: what each starts with (`Head`), where every file or piece of one goes
//! (`Packer`), their names, and writing them (or the one bundle, or standard output).

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::cache::{self, Store};
use crate::error::{Error, Result};
use crate::progress::Meter;
use crate::stats::human;
use crate::tar;

use super::export::each_listed;
use super::{VOLUME, manifest, sign};

/// Nothing smaller is split off a file to fill the end of a volume.
const MIN_PIECE: u64 = 64 * 1024;

/// What every volume starts with.
pub(super) struct Head<'a> {
    pub(super) manifest: &'a Path,
    pub(super) manifest_len: u64,
    pub(super) signature: Option<&'a [u8]>,
}

impl Head<'_> {
    /// The entries before the files, and the end marker.
    fn overhead(&self, split: bool) -> u64 {
        tar::entry_len(manifest::NAME, self.manifest_len)
            + self
                .signature
                .map_or(0, |s| tar::entry_len(sign::ENTRY, s.len() as u64))
            // `{"volume":N,"of":M}` is under one block.
            + if split { tar::entry_len(VOLUME, 100) } else { 0 }
            + 1024
    }

    /// The bytes of files a volume under `limit` holds.
    pub(super) fn capacity(&self, limit: u64) -> Result<u64> {
        // Under the limit: `-split 4GB` must fit FAT32, whose largest file is 4 GiB - 1.
        let usable = limit.saturating_sub(1) / 512 * 512;
        let overhead = self.overhead(true);
        if usable < overhead + MIN_PIECE + 1024 {
            return Err(Error::Usage(format!(
                "-split {limit}: too small; each volume starts with the {} manifest",
                human(self.manifest_len)
            )));
        }
        Ok(usable - overhead)
    }

    fn write(&self, w: &mut dyn Write, volume: Option<(u32, u32)>) -> io::Result<()> {
        let mut f = File::open(self.manifest)?;
        tar::write_entry(w, manifest::NAME, self.manifest_len, &mut f)?;
        if let Some(sig) = self.signature {
            tar::write_entry(w, sign::ENTRY, sig.len() as u64, &mut &sig[..])?;
        }
        if let Some((n, of)) = volume {
            let v = format!("{{\"volume\":{n},\"of\":{of}}}");
            tar::write_entry(w, VOLUME, v.len() as u64, &mut v.as_bytes())?;
        }
        Ok(())
    }
}

/// Lays files out in volumes, in list order: a file goes whole where it fits, else in pieces
/// that fill the rest of the volume (when at least `MIN_PIECE` fits) and go on in the next.
pub(super) struct Packer {
    capacity: u64,
    /// The volume being filled, from 1, and what is left in it.
    pub(super) volume: u32,
    left: u64,
}

/// A file, or a piece of it, in a volume.
pub(super) struct Piece {
    volume: u32,
    offset: u64,
    len: u64,
    /// The whole file (`files/…`) rather than a piece (`parts/{offset}/…`).
    whole: bool,
}

impl Piece {
    fn entry(&self, rel: &str) -> String {
        if self.whole {
            format!("files/{rel}")
        } else {
            format!("parts/{}/{rel}", self.offset)
        }
    }
}

impl Packer {
    pub(super) fn new(capacity: u64) -> Packer {
        Packer {
            capacity,
            volume: 1,
            left: capacity,
        }
    }

    pub(super) fn place(&mut self, rel: &str, size: u64) -> Vec<Piece> {
        let whole_len = tar::entry_len(&format!("files/{rel}"), size);
        if whole_len > self.left && whole_len <= self.capacity && self.left < MIN_PIECE * 2 {
            self.next();
        }
        if whole_len <= self.left {
            self.left -= whole_len;
            return vec![Piece {
                volume: self.volume,
                offset: 0,
                len: size,
                whole: true,
            }];
        }
        let mut pieces = Vec::new();
        let mut offset = 0;
        while offset < size {
            let name = format!("parts/{offset}/{rel}");
            // The header for the largest piece that could go here (a pax one past 8 GiB).
            let most = self.left.min(size - offset);
            let header = tar::entry_len(&name, most) - most.div_ceil(512) * 512;
            let room = self.left.saturating_sub(header) / 512 * 512;
            if room < MIN_PIECE.min(size - offset) {
                self.next();
                continue;
            }
            let len = room.min(size - offset);
            self.left -= tar::entry_len(&name, len);
            pieces.push(Piece {
                volume: self.volume,
                offset,
                len,
                whole: false,
            });
            offset += len;
        }
        pieces
    }

    fn next(&mut self) {
        self.volume += 1;
        self.left = self.capacity;
    }
}

/// `mirror.tar` → `mirror.003.tar`; `mirror` → `mirror.003`.
fn volume_name(output: &str, n: u32, of: u32) -> String {
    let width = of.to_string().len().max(3);
    let file_start = output.rfind('/').map_or(0, |i| i + 1);
    match output[file_start..].rfind('.').filter(|&i| i > 0) {
        Some(dot) => {
            let (stem, ext) = output.split_at(file_start + dot);
            format!("{stem}.{n:0width$}{ext}")
        }
        None => format!("{output}.{n:0width$}"),
    }
}

/// A volume being written: a temp file beside its name, published when complete.
struct VolumeFile {
    w: BufWriter<File>,
    part: PathBuf,
    dest: PathBuf,
}

impl VolumeFile {
    fn create(dest: &str) -> Result<VolumeFile> {
        let part = PathBuf::from(format!("{dest}.part"));
        let file = File::create(&part).map_err(|err| Error::io(&part, err))?;
        Ok(VolumeFile {
            w: BufWriter::with_capacity(256 * 1024, file),
            part,
            dest: PathBuf::from(dest),
        })
    }

    fn finish(mut self) -> Result<()> {
        let result = (|| {
            tar::end(&mut self.w)?;
            self.w.flush()
        })();
        result.map_err(|err| Error::io(&self.part, err))?;
        let file = self
            .w
            .into_inner()
            .map_err(|e| Error::io(&self.part, e.into_error()))?;
        cache::publish(&file, &self.part, &self.dest)
    }
}

/// Writes the bundle: one file (or standard output), or `volumes` numbered files. Returns their
/// names.
pub(super) fn write_volumes(
    store: &Store,
    output: &str,
    head: &Head<'_>,
    list: &Path,
    volumes: Option<u32>,
    split: Option<u64>,
    meter: &Meter,
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut packer = split
        .map(|limit| head.capacity(limit).map(Packer::new))
        .transpose()?;
    let of = volumes.unwrap_or(1);
    let mut current: Option<(u32, VolumeFile)> = None;
    let mut stdout = None;
    if output == "-" {
        let mut w = BufWriter::with_capacity(256 * 1024, io::stdout().lock());
        head.write(&mut w, None)
            .map_err(|err| Error::io("-", err))?;
        stdout = Some(w);
    }
    let result = (|| -> Result<()> {
        let mut open = |n: u32, current: &mut Option<(u32, VolumeFile)>| -> Result<()> {
            if let Some((_, v)) = current.take() {
                v.finish()?;
            }
            let name = match volumes {
                Some(of) => volume_name(output, n, of),
                None => output.to_string(),
            };
            let mut v = VolumeFile::create(&name)?;
            head.write(&mut v.w, volumes.map(|of| (n, of)))
                .map_err(|err| Error::io(&v.part, err))?;
            names.push(name);
            *current = Some((n, v));
            Ok(())
        };
        if stdout.is_none() {
            open(1, &mut current)?;
        }
        each_listed(list, &mut |size, rel| {
            let pieces = match packer.as_mut() {
                Some(p) => p.place(rel, size),
                None => vec![Piece {
                    volume: 1,
                    offset: 0,
                    len: size,
                    whole: true,
                }],
            };
            let path = store.abs(rel);
            let mut f = File::open(&path).map_err(|err| Error::io(&path, err))?;
            for piece in pieces {
                if current.as_ref().is_some_and(|(n, _)| *n != piece.volume) {
                    open(piece.volume, &mut current)?;
                }
                f.seek(SeekFrom::Start(piece.offset))
                    .map_err(|err| Error::io(&path, err))?;
                let mut body = BufReader::new(&mut f).take(piece.len);
                let name = piece.entry(rel);
                let (w, at): (&mut dyn Write, &Path) = match (&mut stdout, &mut current) {
                    (Some(w), _) => (w, Path::new("-")),
                    (None, Some((_, v))) => (&mut v.w, &v.part),
                    (None, None) => unreachable!("a volume is open"),
                };
                tar::write_entry(w, &name, piece.len, &mut body).map_err(|err| {
                    Error::io(
                        at,
                        io::Error::new(err.kind(), format!("{}: {err}", path.display())),
                    )
                })?;
            }
            meter.add(1, size);
            Ok(())
        })?;
        if let Some((_, v)) = current.take() {
            v.finish()?;
        }
        if let Some(mut w) = stdout.take() {
            tar::end(&mut w)
                .and_then(|()| w.flush())
                .map_err(|err| Error::io("-", err))?;
            names.push("standard output".into());
        }
        Ok(())
    })();
    if result.is_err()
        && let Some((_, v)) = current.take()
    {
        let _ = fs::remove_file(&v.part);
    }
    result?;
    debug_assert!(
        volumes.is_none_or(|v| names.len() as u32 == v),
        "{names:?} of {of}"
    );
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_named_after_the_bundle() {
        assert_eq!(volume_name("mirror.tar", 3, 4), "mirror.003.tar");
        assert_eq!(volume_name("/m/x.y/mirror", 12, 1200), "/m/x.y/mirror.0012");
        assert_eq!(volume_name(".hidden", 1, 2), ".hidden.001");
    }

    #[test]
    fn files_are_packed_whole_where_they_fit_and_split_where_not() {
        let mb = 1 << 20;
        let mut p = Packer::new(10 * mb);
        let at = |pieces: &[Piece]| -> Vec<(u32, u64, u64, bool)> {
            pieces
                .iter()
                .map(|p| (p.volume, p.offset, p.len, p.whole))
                .collect()
        };
        assert_eq!(at(&p.place("a", 4 * mb)), [(1, 0, 4 * mb, true)]);
        // 6 MiB left less two headers: the next 8 MiB file fills it and goes on.
        let pieces = p.place("b", 8 * mb);
        assert_eq!(pieces.len(), 2);
        assert_eq!((pieces[0].volume, pieces[0].offset), (1, 0));
        assert_eq!((pieces[1].volume, pieces[1].offset), (2, pieces[0].len));
        assert_eq!(pieces[0].len + pieces[1].len, 8 * mb);
        assert!(pieces.iter().all(|p| !p.whole) && pieces[0].len.is_multiple_of(512));
        // Bigger than a volume: across three.
        let pieces = p.place("c", 25 * mb);
        assert_eq!(pieces.iter().map(|p| p.len).sum::<u64>(), 25 * mb);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.last().unwrap().volume, 4);
        // Every volume's entries fit its capacity.
        let mut p = Packer::new(mb);
        let mut used = std::collections::HashMap::<u32, u64>::new();
        for (i, size) in [0u64, 1, 511, 512, 100_000, 700_000, 3 * mb, 5]
            .iter()
            .enumerate()
        {
            let rel = format!("f{i}");
            for piece in p.place(&rel, *size) {
                *used.entry(piece.volume).or_default() +=
                    tar::entry_len(&piece.entry(&rel), piece.len);
            }
        }
        assert!(used.values().all(|u| *u <= mb), "{used:?}");
    }
}
