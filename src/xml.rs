//! A streaming scanner of XML tags, enough to read the machine-written XML of package indexes
//! (RPM's `repomd.xml` and `primary.xml`, which run to hundreds of megabytes): start and end
//! tags with their attributes, and the text between tags, in bounded memory. No DTDs, no
//! namespaces resolved (a tag is named as written, `rpm:entry`). Comments, processing
//! instructions and declarations (`<!DOCTYPE …>`) are skipped whatever they hold (quotes, `>`);
//! CDATA sections are text, as written. Entities are the five XML predefines and character
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

/// Reads `input` to its end, handing each event to `on`. The text between two tags is one
/// `Text` (character data and CDATA sections joined, comments and processing instructions
/// left out), of at most `max_text` bytes (the rest is read and dropped).
pub(crate) fn scan(
    input: &mut dyn BufRead,
    max_text: usize,
    on: &mut dyn FnMut(Event<'_>) -> io::Result<()>,
) -> io::Result<()> {
    let mut raw = Vec::new();
    let mut text = String::new();
    let mut tag = Tag::default();
    // The text gathered since the last tag, handed over before the next one.
    let flush = |text: &mut String, on: &mut dyn FnMut(Event<'_>) -> io::Result<()>| {
        if text.chars().any(|c| !c.is_whitespace()) {
            let mut end = text.len().min(max_text);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            on(Event::Text(&text[..end]))?;
        }
        text.clear();
        Ok::<(), io::Error>(())
    };
    loop {
        raw.clear();
        let room = max_text.saturating_sub(text.len());
        let more = read_until(input, b'<', &mut raw, room, false)?;
        if !raw.is_empty() {
            text.push_str(&decode(&String::from_utf8_lossy(&raw)));
        }
        if !more {
            return flush(&mut text, on);
        }
        // What follows `<` tells the construct: a comment, a CDATA section, a processing
        // instruction or a declaration are read to their own end (quotes and `>` inside them
        // mean nothing), a tag to its `>` outside quoted attribute values.
        match next_byte(input, false)? {
            Some(b'?') => {
                if !read_through(input, b"?>", &mut Vec::new(), 0)? {
                    return Err(bad("processing instruction not closed"));
                }
                continue;
            }
            Some(b'!') => {
                match bang(input)? {
                    Bang::Comment => {
                        if !read_through(input, b"-->", &mut Vec::new(), 0)? {
                            return Err(bad("comment not closed"));
                        }
                    }
                    Bang::Cdata => {
                        raw.clear();
                        let room = max_text.saturating_sub(text.len());
                        if !read_through(input, b"]]>", &mut raw, room)? {
                            return Err(bad("CDATA section not closed"));
                        }
                        text.push_str(&String::from_utf8_lossy(&raw));
                    }
                    Bang::Declaration(head) => declaration(input, &head)?,
                }
                continue;
            }
            Some(_) => {}
            None => return Err(bad("document ends inside a tag")),
        }
        raw.clear();
        if !read_until(input, b'>', &mut raw, MAX_TAG, true)? {
            return Err(bad("document ends inside a tag"));
        }
        flush(&mut text, on)?;
        let raw_text = String::from_utf8_lossy(&raw);
        if let Some(name) = raw_text.strip_prefix('/') {
            on(Event::End(name.trim()))?;
            continue;
        }
        let (body, empty) = match raw_text.strip_suffix('/') {
            Some(b) => (b, true),
            None => (&raw_text[..], false),
        };
        parse_tag(body, &mut tag)?;
        on(Event::Start(&tag))?;
        if empty {
            on(Event::End(&tag.name))?;
        }
    }
}

/// The next byte of the input, consumed or only looked at; `None` at its end.
fn next_byte(input: &mut dyn BufRead, consume: bool) -> io::Result<Option<u8>> {
    let b = input.fill_buf()?.first().copied();
    if b.is_some() && consume {
        input.consume(1);
    }
    Ok(b)
}

/// What `<!` opens.
enum Bang {
    Comment,
    Cdata,
    /// `<!DOCTYPE …>` and the like, with the bytes after `!` read to tell it apart.
    Declaration(Vec<u8>),
}

/// Reads what follows `<!` up to where it is told apart: `--`, `[CDATA[`, or anything else.
fn bang(input: &mut dyn BufRead) -> io::Result<Bang> {
    input.consume(1);
    let mut head = Vec::new();
    loop {
        if head == b"--" {
            return Ok(Bang::Comment);
        }
        if head == b"[CDATA[" {
            return Ok(Bang::Cdata);
        }
        if !(b"--".starts_with(&head) || b"[CDATA[".starts_with(&head)) {
            return Ok(Bang::Declaration(head));
        }
        match next_byte(input, true)? {
            Some(b) => head.push(b),
            None => return Err(bad("document ends inside a tag")),
        }
    }
}

/// Skips a declaration (`<!DOCTYPE x [ … ]>`) whose first bytes `head` were read: to the `>`
/// outside quotes and outside its `[…]` internal subset.
fn declaration(input: &mut dyn BufRead, head: &[u8]) -> io::Result<()> {
    let (mut quote, mut depth) = (None::<u8>, 0usize);
    let mut step = |b: u8| -> bool {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[') => depth += 1,
            (None, b']') => depth = depth.saturating_sub(1),
            (None, b'>') if depth == 0 => return true,
            _ => {}
        }
        false
    };
    if head.iter().any(|&b| step(b)) {
        return Ok(());
    }
    loop {
        let avail = input.fill_buf()?;
        if avail.is_empty() {
            return Err(bad("declaration not closed"));
        }
        let end = avail.iter().position(|&b| step(b));
        let n = end.map_or(avail.len(), |i| i + 1);
        input.consume(n);
        if end.is_some() {
            return Ok(());
        }
    }
}

/// Reads up to and through `end` (2 or 3 bytes: `?>`, `-->`, `]]>`), keeping at most `max` of
/// the bytes before it in `out`. `false` at the end of the input.
fn read_through(
    input: &mut dyn BufRead,
    end: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<bool> {
    let k = end.len() - 1;
    let start = out.len();
    // The last two bytes seen, and how many were seen.
    let (mut recent, mut seen) = ([0u8; 2], 0usize);
    loop {
        let avail = input.fill_buf()?;
        if avail.is_empty() {
            return Ok(false);
        }
        let mut done = None;
        for (i, &b) in avail.iter().enumerate() {
            if b == end[k] && seen >= k && recent[2 - k..] == end[..k] {
                done = Some(i);
                break;
            }
            recent = [recent[1], b];
            seen += 1;
        }
        let take = done.unwrap_or(avail.len());
        let room = max.saturating_sub(out.len() - start);
        out.extend_from_slice(&avail[..take.min(room)]);
        input.consume(take + usize::from(done.is_some()));
        if done.is_some() {
            // The terminator's first bytes were read as if content: not part of it.
            let kept = (out.len() - start).min(seen - k);
            out.truncate(start + kept);
            return Ok(true);
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

    /// Quotes and `>` in comments, CDATA sections, processing instructions and declarations
    /// are theirs: they neither open an attribute value nor end a tag. The text of an element is
    /// one event, whatever comments split it.
    #[test]
    fn comments_cdata_and_instructions_hold_anything() {
        let doc = "<?xml version=\"1.0\"?>\n\
                   <!DOCTYPE r [ <!ENTITY e \"x>y\"> ]>\n\
                   <?style don't > \"?>\
                   <r><!-- don't \"quote\" > -- <a> --><a x=\"1\">t<!-- ' -->ail</a>\
                   <b><![CDATA[it's \"q\" > <c> ]]]></b><!----><d>&amp;<![CDATA[&amp;]]>!</d>\
                   <e><!-- only a comment --></e></r>";
        let want = [
            "<r>",
            "<a x=1>",
            "tail",
            "</a>",
            "<b>",
            "it's \"q\" > <c> ]",
            "</b>",
            "<d>",
            "&&amp;!",
            "</d>",
            "<e>",
            "</e>",
            "</r>",
        ];
        assert_eq!(events(doc).unwrap(), want);
        // The same, read a byte at a time: constructs that span reads end where they end.
        let mut got = Vec::new();
        scan(
            &mut io::BufReader::with_capacity(1, doc.as_bytes()),
            32,
            &mut |e| {
                got.push(format!("{e:?}"));
                Ok(())
            },
        )
        .unwrap();
        let mut whole = Vec::new();
        scan(&mut doc.as_bytes(), 32, &mut |e| {
            whole.push(format!("{e:?}"));
            Ok(())
        })
        .unwrap();
        assert_eq!(got, whole);
        // CDATA is cut at `max_text` like other text, and its end is still found.
        let long = format!("<a><![CDATA[{}]]></a><b/>", "y".repeat(100));
        assert_eq!(
            events(&long).unwrap(),
            ["<a>", &"y".repeat(32), "</a>", "<b>", "</b>"]
        );
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        for bad in [
            "<a",
            "<a x=1>",
            "<a x=\"1>",
            "<!-- x",
            "<!-- x ->",
            "<![CDATA[ x ]>",
            "<? x >",
            "<!DOCTYPE [ > ",
            "<!",
            "<!-",
            "<",
            "<>",
            "<a x>",
        ] {
            assert!(events(bad).is_err(), "{bad}");
        }
        let long = format!("<a x=\"{}\">", "y".repeat(MAX_TAG));
        assert!(events(&long).is_err());
    }
}
