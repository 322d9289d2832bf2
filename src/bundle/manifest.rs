//! The bundle manifest, `proxy-bundle.json`: every artifact, metadata document and link record
//! the bundle carries, each file with its SHA-256 and size, and the policy's records (versions
//! with their publish times, OSV advisories). It is written record by record as the
//! database is read, and read record by record as a bundle is imported, so neither side holds it
//! in memory: a bundle of a million files costs no more memory than one of ten.
//!
//! `{"format":"proxy-bundle","version":3,"created":…,"since":…,"artifacts":[…],"metadata":[…],
//! "links":[…],"versions":[…],"advisories":[…]}`: the scalar fields first, then the lists in that
//! order (a manifest without the last two, from before the policy, reads as having none). Version 1 kept
//! times in seconds (the reader's caller converts them); version 2 is the same with milliseconds;
//! version 3 adds the signature and volume entries beside the manifest in the archive (the
//! manifest itself is the same). A version 2 reader can import a bundle written as version 2,
//! which `proxy export` still writes when it is neither split nor signed.

use std::fmt;
use std::io::{self, Read, Write};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::db::{AdvisoryRecord, ArtifactRecord, LinkRecord, MetadataRecord, VersionRecord};

pub(super) const NAME: &str = "proxy-bundle.json";
pub(super) const FORMAT: &str = "proxy-bundle";
/// The newest version this proxy reads and writes.
pub(super) const VERSION: u32 = 3;

/// The fields before the lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Header {
    pub format: String,
    pub version: u32,
    pub created: i64,
    pub since: Option<i64>,
}

/// Writes a manifest record by record. The lists must come in order: artifacts, metadata,
/// links, versions, advisories.
pub(super) struct Writer<W: Write> {
    out: W,
    /// The list being written, an index into `LISTS`.
    list: usize,
    first: bool,
}

const LISTS: [&str; 5] = ["artifacts", "metadata", "links", "versions", "advisories"];

impl<W: Write> Writer<W> {
    pub(super) fn new(mut out: W, h: &Header) -> io::Result<Writer<W>> {
        let since = h.since.map_or("null".to_string(), |s| s.to_string());
        write!(
            out,
            "{{\"format\":{},\"version\":{},\"created\":{},\"since\":{since},\"artifacts\":[",
            crate::json::encode(&h.format),
            h.version,
            h.created
        )?;
        Ok(Writer {
            out,
            list: 0,
            first: true,
        })
    }

    fn record(&mut self, list: usize, record: &impl serde::Serialize) -> io::Result<()> {
        debug_assert!(list >= self.list, "manifest lists out of order");
        while self.list < list {
            self.list += 1;
            write!(self.out, "],\"{}\":[", LISTS[self.list])?;
            self.first = true;
        }
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, record).map_err(io::Error::other)
    }

    pub(super) fn artifact(&mut self, a: &ArtifactRecord) -> io::Result<()> {
        self.record(0, a)
    }

    pub(super) fn metadata(&mut self, m: &MetadataRecord) -> io::Result<()> {
        self.record(1, m)
    }

    pub(super) fn link(&mut self, l: &LinkRecord) -> io::Result<()> {
        self.record(2, l)
    }

    pub(super) fn version(&mut self, v: &VersionRecord) -> io::Result<()> {
        self.record(3, v)
    }

    pub(super) fn advisory(&mut self, a: &AdvisoryRecord) -> io::Result<()> {
        self.record(4, a)
    }

    /// Closes the lists and the object; returns the writer.
    pub(super) fn finish(mut self) -> io::Result<W> {
        while self.list < LISTS.len() - 1 {
            self.list += 1;
            write!(self.out, "],\"{}\":[", LISTS[self.list])?;
        }
        self.out.write_all(b"]}")?;
        Ok(self.out)
    }
}

/// What a reader is told, in document order.
pub(super) trait Visit {
    /// The scalar fields, before any record: a refusal stops the reading.
    fn header(&mut self, h: &Header) -> Result<(), String>;
    fn artifact(&mut self, a: ArtifactRecord) -> Result<(), String>;
    fn metadata(&mut self, m: MetadataRecord) -> Result<(), String>;
    fn link(&mut self, l: LinkRecord) -> Result<(), String>;
    /// The policy's records; a reader that only wants the files passes over them.
    fn version(&mut self, _v: VersionRecord) -> Result<(), String> {
        Ok(())
    }
    fn advisory(&mut self, _a: AdvisoryRecord) -> Result<(), String> {
        Ok(())
    }
}

/// Reads a manifest from `r`, record by record. Anything that is not a manifest, or a list
/// before the version, is an error.
pub(super) fn read(r: impl Read, visit: &mut dyn Visit) -> Result<Header, String> {
    let mut de = serde_json::Deserializer::from_reader(r);
    let top = Top {
        visit,
        header: Header::default(),
        told: false,
    };
    let header = top.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(header)
}

struct Top<'a> {
    visit: &'a mut dyn Visit,
    header: Header,
    told: bool,
}

impl Top<'_> {
    fn tell<E: de::Error>(&mut self) -> Result<(), E> {
        if !self.told {
            self.told = true;
            self.visit.header(&self.header).map_err(E::custom)?;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = Header;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Header, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a proxy bundle manifest (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Header, A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let list = match key.as_str() {
                "format" => {
                    self.header.format = map.next_value()?;
                    continue;
                }
                "version" => {
                    self.header.version = map.next_value()?;
                    continue;
                }
                "created" => {
                    self.header.created = map.next_value()?;
                    continue;
                }
                "since" => {
                    self.header.since = map.next_value()?;
                    continue;
                }
                "artifacts" => List::Artifacts,
                "metadata" => List::Metadata,
                "links" => List::Links,
                "versions" => List::Versions,
                "advisories" => List::Advisories,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            self.tell()?;
            map.next_value_seed(Records {
                list,
                visit: &mut *self.visit,
            })?;
        }
        self.tell()?;
        Ok(self.header)
    }
}

#[derive(Clone, Copy)]
enum List {
    Artifacts,
    Metadata,
    Links,
    Versions,
    Advisories,
}

struct Records<'a> {
    list: List,
    visit: &'a mut dyn Visit,
}

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let err = |e: String| <A::Error as de::Error>::custom(e);
        match self.list {
            List::Artifacts => {
                while let Some(a) = seq.next_element()? {
                    self.visit.artifact(a).map_err(err)?;
                }
            }
            List::Metadata => {
                while let Some(m) = seq.next_element()? {
                    self.visit.metadata(m).map_err(err)?;
                }
            }
            List::Links => {
                while let Some(l) = seq.next_element()? {
                    self.visit.link(l).map_err(err)?;
                }
            }
            List::Versions => {
                while let Some(v) = seq.next_element()? {
                    self.visit.version(v).map_err(err)?;
                }
            }
            List::Advisories => {
                while let Some(a) = seq.next_element()? {
                    self.visit.advisory(a).map_err(err)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen {
        header: Option<Header>,
        records: Vec<String>,
        refuse: bool,
    }

    impl Visit for Seen {
        fn header(&mut self, h: &Header) -> Result<(), String> {
            self.header = Some(h.clone());
            if self.refuse {
                return Err("refused".into());
            }
            Ok(())
        }
        fn artifact(&mut self, a: ArtifactRecord) -> Result<(), String> {
            self.records.push(format!("a {}", a.storage_path));
            Ok(())
        }
        fn metadata(&mut self, m: MetadataRecord) -> Result<(), String> {
            self.records.push(format!("m {}", m.key));
            Ok(())
        }
        fn link(&mut self, l: LinkRecord) -> Result<(), String> {
            self.records.push(format!("l {}", l.filename));
            Ok(())
        }
        fn version(&mut self, v: VersionRecord) -> Result<(), String> {
            self.records.push(format!("v {}", v.version));
            Ok(())
        }
        fn advisory(&mut self, a: AdvisoryRecord) -> Result<(), String> {
            self.records.push(format!("x {}", a.id));
            Ok(())
        }
    }

    fn artifact(path: &str) -> ArtifactRecord {
        ArtifactRecord {
            ecosystem: "npm".into(),
            name: "a".into(),
            version: "1".into(),
            filename: "a-1.tgz".into(),
            upstream_url: "u".into(),
            storage_path: path.into(),
            sha256: "00".into(),
            size: 1,
            content_type: "x".into(),
            fetched_at: 5,
            verified_by: None,
        }
    }

    #[test]
    fn written_record_by_record_and_read_back() {
        let h = Header {
            format: FORMAT.into(),
            version: 3,
            created: 7,
            since: None,
        };
        let mut w = Writer::new(Vec::new(), &h).unwrap();
        w.artifact(&artifact("p1")).unwrap();
        w.artifact(&artifact("p2")).unwrap();
        w.link(&LinkRecord {
            ecosystem: "npm".into(),
            name: "a".into(),
            filename: "a-1.tgz".into(),
            url: "u".into(),
            algo: None,
            digest: None,
            path: None,
            version: String::new(),
            flags: 0,
        })
        .unwrap();
        w.advisory(&AdvisoryRecord {
            id: "MAL-1".into(),
            modified: 1,
            malicious: true,
            severity: 0,
            summary: String::new(),
            aliases: Vec::new(),
            affected: Vec::new(),
        })
        .unwrap();
        let bytes = w.finish().unwrap();
        // Plain JSON: serde reads it whole too.
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["metadata"], serde_json::json!([]));
        assert_eq!(v["versions"], serde_json::json!([]));
        let mut seen = Seen::default();
        let got = read(&bytes[..], &mut seen).unwrap();
        assert_eq!(got, h);
        assert_eq!(seen.records, ["a p1", "a p2", "l a-1.tgz", "x MAL-1"]);
        // An empty manifest.
        let bytes = Writer::new(Vec::new(), &h).unwrap().finish().unwrap();
        let mut seen = Seen::default();
        read(&bytes[..], &mut seen).unwrap();
        assert!(seen.records.is_empty() && seen.header.is_some());
    }

    #[test]
    fn refusals_and_junk_stop_the_reading() {
        let mut seen = Seen {
            refuse: true,
            ..Seen::default()
        };
        let doc = r#"{"format":"proxy-bundle","version":9,"artifacts":[{"x":1}]}"#;
        assert!(
            read(doc.as_bytes(), &mut seen)
                .unwrap_err()
                .contains("refused")
        );
        assert!(seen.records.is_empty());
        for bad in ["", "[]", "{", r#"{"artifacts":[1]}"#, "{} x", "not json"] {
            assert!(read(bad.as_bytes(), &mut Seen::default()).is_err(), "{bad}");
        }
        // Unknown fields are passed over.
        let doc = r#"{"format":"proxy-bundle","version":2,"extra":{"a":[1]},"links":[]}"#;
        assert!(read(doc.as_bytes(), &mut Seen::default()).is_ok());
    }
}
