//! A streaming scanner of XML tags, enough to read the machine-written XML of package indexes
//! (RPM's `repomd.xml` and `primary.xml`, which run to hundreds of megabytes): start and end
//! tags with their attributes, and the text between tags, in bounded memory. No DTDs, no
//! namespaces resolved (a tag is named as written, `rpm:entry`), CDATA kept as text; comments
//! and processing instructions are skipped. Entities are the five XML predefines and character
//! references.

use std::io::{self, BufRead};

/// Longest tag read (a `primary.xml` `<rpm:entry>` is some hundred bytes).
const MAX_TAG: usize = 64 * 1024;

/// What the scanner sees.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// `<name attr="value" …>`, or `<name …/>` (then an `End` follows at once).
    Start(&'a Tag),
    End(&'a str),
    /// Text between tags, entities decoded; only the first `max_text` bytes of a run are kept.
    Text(&'a str),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tag {
    pub name: String,
    pub attrs: Vec<(String, String)>,
}

impl Tag {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `input` to its end, handing each event to `on`. Text runs keep at most `max_text`
/// bytes (the rest is read and dropped).
pub(crate) fn scan(
    input: &mut dyn BufRead,
    max_text: usize,
    on: &mut dyn FnMut(Event<'_>) -> io::Result<()>,
) -> io::Result<()> {
    let mut raw = Vec::new();
    let mut tag = Tag::default();
    loop {
        raw.clear();
        let more = read_until(input, b'<', &mut raw, max_text, false)?;
        if raw.iter().any(|b| !b.is_ascii_whitespace()) {
            on(Event::Text(&decode(&String::from_utf8_lossy(&raw))))?;
        }
        if !more {
            return Ok(());
        }
        raw.clear();
        if !read_until(input, b'>', &mut raw, MAX_TAG, true)? {
            return Err(bad("document ends inside a tag"));
        }
        if raw.starts_with(b"!--") {
            // A comment may hold `>`: read on to `-->`.
            while !raw.ends_with(b"--") {
                raw.push(b'>');
                if raw.len() > MAX_TAG || !read_until(input, b'>', &mut raw, MAX_TAG, false)? {
                    return Err(bad("comment not closed"));
                }
            }
            continue;
        }
        if let Some(cdata) = raw.strip_prefix(b"![CDATA[") {
            let mut text = cdata.to_vec();
            while !text.ends_with(b"]]") {
                text.push(b'>');
                if text.len() > MAX_TAG || !read_until(input, b'>', &mut text, MAX_TAG, false)? {
                    return Err(bad("CDATA section not closed"));
                }
            }
            text.truncate(text.len() - 2);
            text.truncate(max_text);
            on(Event::Text(&String::from_utf8_lossy(&text)))?;
            continue;
        }
        if raw.starts_with(b"?") || raw.starts_with(b"!") {
            continue;
        }
        let text = String::from_utf8_lossy(&raw);
        if let Some(name) = text.strip_prefix('/') {
            on(Event::End(name.trim()))?;
            continue;
        }
        let (body, empty) = match text.strip_suffix('/') {
            Some(b) => (b, true),
            None => (&text[..], false),
        };
        parse_tag(body, &mut tag)?;
        on(Event::Start(&tag))?;
        if empty {
            on(Event::End(&tag.name))?;
        }
    }
}

/// Reads up to `stop` (consumed, not kept) into `out`, keeping at most `max` bytes (a tag longer
/// than that is an error, a longer text is cut). With `quoted`, a `stop` inside quotes does not
/// count. `false` at the end of the input.
fn read_until(
    input: &mut dyn BufRead,
    stop: u8,
    out: &mut Vec<u8>,
    max: usize,
    quoted: bool,
) -> io::Result<bool> {
    let mut quote: Option<u8> = None;
    loop {
        let avail = input.fill_buf()?;
        if avail.is_empty() {
            return Ok(false);
        }
        let mut end = None;
        for (i, &b) in avail.iter().enumerate() {
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if quoted && (b == b'"' || b == b'\'') => quote = Some(b),
                None if b == stop => {
                    end = Some(i);
                    break;
                }
                None => {}
            }
        }
        let take = end.unwrap_or(avail.len());
        let room = max.saturating_sub(out.len());
        if quoted && take > room {
            return Err(bad("tag too long"));
        }
        out.extend_from_slice(&avail[..take.min(room)]);
        input.consume(take + usize::from(end.is_some()));
        if end.is_some() {
            return Ok(true);
        }
    }
}

/// `name a="1" b='2'` into `tag`.
fn parse_tag(body: &str, tag: &mut Tag) -> io::Result<()> {
    let body = body.trim();
    let name_end = body
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(body.len());
    tag.name.clear();
    tag.name.push_str(&body[..name_end]);
    if tag.name.is_empty() {
        return Err(bad("tag without a name"));
    }
    tag.attrs.clear();
    let mut rest = body[name_end..].trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| bad("attribute without a value"))?;
        let key = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let q = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        let q = q.ok_or_else(|| bad("attribute value not quoted"))?;
        let close = after[1..]
            .find(q)
            .ok_or_else(|| bad("attribute value not closed"))?;
        tag.attrs.push((key, decode(&after[1..1 + close])));
        rest = after[close + 2..].trim_start();
    }
    Ok(())
}

/// Decodes the predefined entities and character references; anything else is kept as written.
fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(semi) = tail.find(';').filter(|n| *n <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..semi];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("XML: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(doc: &str) -> io::Result<Vec<String>> {
        let mut got = Vec::new();
        scan(&mut doc.as_bytes(), 32, &mut |e| {
            got.push(match e {
                Event::Start(t) => {
                    let attrs: Vec<String> =
                        t.attrs.iter().map(|(k, v)| format!(" {k}={v}")).collect();
                    format!("<{}{}>", t.name, attrs.concat())
                }
                Event::End(n) => format!("</{n}>"),
                Event::Text(t) => t.to_string(),
            });
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn tags_attributes_text_and_entities() {
        let doc = "<?xml version=\"1.0\"?>\n<!-- a > comment -->\n<a x=\"1 &amp; 2\" y='>'>\n  \
                   <b>fish &lt;&amp;&#x41;&#66; chips</b><c/><d><![CDATA[<raw>]]></d>\
                   <e>0123456789abcdefghijklmnopqrstuvwxyz</e></a>";
        assert_eq!(
            events(doc).unwrap(),
            [
                "<a x=1 & 2 y=>>",
                "<b>",
                "fish <&AB chips",
                "</b>",
                "<c>",
                "</c>",
                "<d>",
                "<raw>",
                "</d>",
                "<e>",
                "0123456789abcdefghijklmnopqrstuv",
                "</e>",
                "</a>",
            ]
        );
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        for bad in ["<a", "<a x=1>", "<a x=\"1>", "<!-- x", "<>", "<a x>"] {
            assert!(events(bad).is_err(), "{bad}");
        }
        let long = format!("<a x=\"{}\">", "y".repeat(MAX_TAG));
        assert!(events(&long).is_err());
    }
}
