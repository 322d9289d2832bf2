//! A streaming JSON rewriter: copies a document from a reader to a writer byte for byte, except
//! the string values a `Visitor` chooses to replace and the object members and array elements it
//! chooses to leave out (by their path, or by their content). Memory stays bounded by the longest
//! string the visitor asks to see (and the longest key, and an entry it judges whole), never by
//! the document, so a 150 MB npm packument is rewritten without being held in memory.
//!
//! It checks structure (brackets, strings, escapes, nesting depth) but not the exact grammar of
//! numbers and literals: it is a rewriter for documents the upstream produced, and anything it
//! cannot follow is an error rather than a guess.
//!
//! Paths and path patterns (`Seg`, `Pattern`) live in `pattern.rs`; the unit tests in `tests.rs`.

mod pattern;
#[cfg(test)]
mod tests;

use std::io::{self, BufRead, Write};

pub(crate) use pattern::{Pattern, Seg};

pub(crate) trait Visitor {
    /// Whether the string value at `path` should be decoded and offered to `string`.
    fn wants(&self, _path: &[Seg]) -> bool {
        false
    }
    /// A wanted string value; `Some` replaces it in the output.
    fn string(&mut self, _path: &[Seg], _value: &str) -> Option<String> {
        None
    }
    /// Called after an object at `path` closes.
    fn end_object(&mut self, _path: &[Seg]) {}
    /// A wanted number, `true`, `false` or `null`, as written (never replaced).
    fn literal(&mut self, _path: &[Seg], _value: &str) {}
    /// Called as each object member and array element begins (see `Entry`).
    fn entry(&mut self, _path: &[Seg], _at: Entry) {}
    /// Whether the whole value at `path` (an object, say) should be offered to `whole` as its
    /// bytes, to be kept or replaced as a unit. Bounded by `MAX_WHOLE`.
    fn wants_whole(&self, _path: &[Seg]) -> bool {
        false
    }
    /// A wanted whole value, as written; `Some` replaces it in the output.
    fn whole(&mut self, _path: &[Seg], _raw: &[u8]) -> Option<Vec<u8>> {
        None
    }
    /// Whether the object member or array element at `path` (its key or index just read) is
    /// left out of the output, with the comma that separated it. Its value is read and checked,
    /// never visited.
    fn drop(&mut self, _path: &[Seg]) -> bool {
        false
    }
    /// Whether the member or element at `path` should be read whole (bounded by `MAX_WHOLE`)
    /// and offered to `keep`, which decides from its bytes whether it stays.
    fn wants_verdict(&self, _path: &[Seg]) -> bool {
        false
    }
    /// A member's value or an element read whole (see `wants_verdict`): false leaves it out,
    /// with its separator; true writes it unchanged, unvisited.
    fn keep(&mut self, _path: &[Seg], _raw: &[u8]) -> bool {
        true
    }
}

/// A visitor made of two closures, for a rewrite that only replaces strings: which values it
/// wants, and what replaces each (`None` keeps it).
pub(crate) struct Replace<W, S> {
    pub wants: W,
    pub string: S,
}

impl<W, S> Visitor for Replace<W, S>
where
    W: Fn(&[Seg]) -> bool,
    S: FnMut(&[Seg], &str) -> Option<String>,
{
    fn wants(&self, path: &[Seg]) -> bool {
        (self.wants)(path)
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        (self.string)(path, value)
    }
}

const MAX_DEPTH: usize = 256;
/// Longest whole value offered to a visitor (one version of a Composer package, say).
const MAX_WHOLE: u64 = 16 << 20;
const MAX_KEY: usize = 64 * 1024;
/// Longest string value offered to a visitor; longer ones are copied through untouched.
const MAX_WANTED: usize = 64 * 1024;
/// Whitespace kept before an entry while it is not known whether that entry is left out; more is
/// dropped (it only ever is whitespace).
const MAX_GAP: usize = 4096;

/// Rewrites one JSON document from `input` to `out`.
pub(crate) fn rewrite(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    visitor: &mut dyn Visitor,
) -> io::Result<()> {
    let mut p = Parser {
        input,
        out,
        path: Vec::new(),
        line: 1,
    };
    p.ws()?;
    p.value(visitor)?;
    p.ws()?;
    if p.peek()?.is_some() {
        return Err(invalid("trailing data after the JSON document"));
    }
    Ok(())
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("invalid JSON: {msg}"))
}

struct Parser<'a> {
    input: &'a mut dyn BufRead,
    out: &'a mut dyn Write,
    path: Vec<Seg>,
    /// The 1-based line of the next byte (newlines can only be whitespace: strings hold none).
    line: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> io::Result<Option<u8>> {
        Ok(self.input.fill_buf()?.first().copied())
    }

    fn next(&mut self) -> io::Result<u8> {
        let b = self
            .peek()?
            .ok_or_else(|| invalid("unexpected end of document"))?;
        self.input.consume(1);
        Ok(b)
    }

    /// Copies whitespace through.
    fn ws(&mut self) -> io::Result<()> {
        loop {
            let buf = self.input.fill_buf()?;
            let n = buf
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .count();
            if n == 0 {
                return Ok(());
            }
            self.line += buf[..n].iter().filter(|b| **b == b'\n').count();
            self.out.write_all(&buf[..n])?;
            self.input.consume(n);
        }
    }

    fn expect(&mut self, want: u8) -> io::Result<()> {
        let b = self.next()?;
        if b != want {
            return Err(invalid(&format!(
                "expected '{}', found '{}'",
                want as char, b as char
            )));
        }
        self.out.write_all(&[b])
    }

    fn value(&mut self, v: &mut dyn Visitor) -> io::Result<()> {
        if self.path.len() > MAX_DEPTH {
            return Err(invalid("nested too deeply"));
        }
        if v.wants_whole(&self.path) {
            let raw = self.capture()?;
            return match v.whole(&self.path, &raw) {
                Some(new) => self.out.write_all(&new),
                None => self.out.write_all(&raw),
            };
        }
        match self
            .peek()?
            .ok_or_else(|| invalid("unexpected end of document"))?
        {
            b'{' => self.object(v),
            b'[' => self.array(v),
            b'"' => {
                if v.wants(&self.path) {
                    let (raw, whole) = self.raw_string(MAX_WANTED)?;
                    if !whole {
                        // Too long to be what the visitor wants: pass it through unseen.
                        self.out.write_all(&raw)?;
                        let slashes = raw[1..].iter().rev().take_while(|b| **b == b'\\').count();
                        return self.copy_rest_of_string(slashes % 2 == 1);
                    }
                    let decoded = decode(&raw)?;
                    match v.string(&self.path, &decoded) {
                        Some(new) => self.out.write_all(encode(&new).as_bytes()),
                        None => self.out.write_all(&raw),
                    }
                } else {
                    self.copy_string()
                }
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                if v.wants(&self.path) {
                    let mut raw = Vec::new();
                    self.literal(Some(&mut raw))?;
                    // Only ASCII was taken.
                    v.literal(&self.path, std::str::from_utf8(&raw).unwrap_or(""));
                    Ok(())
                } else {
                    self.literal(None)
                }
            }
            b => Err(invalid(&format!("unexpected '{}'", b as char))),
        }
    }

    fn object(&mut self, v: &mut dyn Visitor) -> io::Result<()> {
        self.expect(b'{')?;
        self.ws()?;
        if self.peek()? == Some(b'}') {
            self.expect(b'}')?;
            v.end_object(&self.path);
            return Ok(());
        }
        // Members written so far: a comma goes out before every one after the first, so a
        // member left out takes its separator with it.
        let mut written = 0;
        loop {
            let lead = self.take_ws()?;
            if self.peek()? != Some(b'"') {
                return Err(invalid("expected an object key"));
            }
            let (raw, whole) = self.raw_string(MAX_KEY)?;
            if !whole {
                return Err(invalid("key too long"));
            }
            let key = decode(&raw)?;
            let key_line = self.line;
            self.path.push(Seg::Key(key));
            let kept = if v.drop(&self.path) || v.wants_verdict(&self.path) {
                let gap = self.take_ws()?;
                if self.next()? != b':' {
                    return Err(invalid("expected ':'"));
                }
                let gap2 = self.take_ws()?;
                let value = self.capture_or_skip(v)?;
                self.write_entry(
                    written,
                    value.map(|value| [lead, raw, gap, b":".to_vec(), gap2, value]),
                )?
            } else {
                if written > 0 {
                    self.out.write_all(b",")?;
                }
                self.out.write_all(&lead)?;
                self.out.write_all(&raw)?;
                self.ws()?;
                self.expect(b':')?;
                self.ws()?;
                self.entry(v, key_line)?;
                self.value(v)?;
                true
            };
            self.path.pop();
            written += self.after_entry(kept)?;
            match self.next()? {
                b',' => {}
                b'}' => {
                    self.out.write_all(b"}")?;
                    v.end_object(&self.path);
                    return Ok(());
                }
                b => return Err(invalid(&format!("unexpected '{}' in object", b as char))),
            }
        }
    }

    fn array(&mut self, v: &mut dyn Visitor) -> io::Result<()> {
        self.expect(b'[')?;
        self.ws()?;
        if self.peek()? == Some(b']') {
            return self.expect(b']');
        }
        let mut i = 0;
        let mut written = 0;
        loop {
            let lead = self.take_ws()?;
            self.path.push(Seg::Index(i));
            let kept = if v.drop(&self.path) || v.wants_verdict(&self.path) {
                let value = self.capture_or_skip(v)?;
                self.write_entry(written, value.map(|value| [lead, value]))?
            } else {
                if written > 0 {
                    self.out.write_all(b",")?;
                }
                self.out.write_all(&lead)?;
                self.entry(v, self.line)?;
                self.value(v)?;
                true
            };
            self.path.pop();
            written += self.after_entry(kept)?;
            match self.next()? {
                b',' => {}
                b']' => return self.out.write_all(b"]"),
                b => return Err(invalid(&format!("unexpected '{}' in array", b as char))),
            }
            i += 1;
        }
    }

    /// Writes a member or element that was read whole (its parts, in order), with the comma
    /// before it unless it is the first written; `None` writes nothing. Whether it was written.
    fn write_entry<const N: usize>(
        &mut self,
        written: usize,
        parts: Option<[Vec<u8>; N]>,
    ) -> io::Result<bool> {
        let Some(parts) = parts else {
            return Ok(false);
        };
        if written > 0 {
            self.out.write_all(b",")?;
        }
        for part in parts {
            self.out.write_all(&part)?;
        }
        Ok(true)
    }

    /// After a member or element: the whitespace before its separator goes with it. How many
    /// entries were written (0 or 1).
    fn after_entry(&mut self, kept: bool) -> io::Result<usize> {
        if kept {
            self.ws()?;
            Ok(1)
        } else {
            self.take_ws()?;
            Ok(0)
        }
    }

    /// Whitespace read and returned rather than written (up to `MAX_GAP` bytes of it).
    fn take_ws(&mut self) -> io::Result<Vec<u8>> {
        let mut taken = Vec::new();
        loop {
            let buf = self.input.fill_buf()?;
            let n = buf
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .count();
            if n == 0 {
                return Ok(taken);
            }
            self.line += buf[..n].iter().filter(|b| **b == b'\n').count();
            let room = MAX_GAP.saturating_sub(taken.len());
            taken.extend_from_slice(&buf[..n.min(room)]);
            self.input.consume(n);
        }
    }

    /// The value at `self.path`, which the visitor drops or judges: `None` if it is left out
    /// (read and checked, not kept), else its bytes.
    fn capture_or_skip(&mut self, v: &mut dyn Visitor) -> io::Result<Option<Vec<u8>>> {
        if v.drop(&self.path) {
            self.value_into(&mut io::sink())?;
            return Ok(None);
        }
        let value = self.capture()?;
        Ok(v.keep(&self.path, &value).then_some(value))
    }

    /// Copies a number or keyword through; the first 64 bytes also into `keep`.
    fn literal(&mut self, mut keep: Option<&mut Vec<u8>>) -> io::Result<()> {
        loop {
            let buf = self.input.fill_buf()?;
            let n = buf
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                .count();
            if n == 0 {
                return Ok(());
            }
            if let Some(keep) = keep.as_deref_mut() {
                let room = 64usize.saturating_sub(keep.len());
                keep.extend_from_slice(&buf[..n.min(room)]);
            }
            self.out.write_all(&buf[..n])?;
            self.input.consume(n);
        }
    }

    /// Reads a string token, quotes included. Stops after `max` bytes; the flag says whether the
    /// token is whole.
    fn raw_string(&mut self, max: usize) -> io::Result<(Vec<u8>, bool)> {
        let mut raw = vec![self.next()?];
        let mut escaped = false;
        loop {
            if raw.len() >= max {
                return Ok((raw, false));
            }
            let b = self.next()?;
            raw.push(b);
            match (escaped, b) {
                (false, b'\\') => escaped = true,
                (false, b'"') => return Ok((raw, true)),
                (false, 0..=0x1f) => return Err(invalid("control character in string")),
                _ => escaped = false,
            }
        }
    }

    /// Copies a string token through without keeping it.
    fn copy_string(&mut self) -> io::Result<()> {
        let q = self.next()?;
        self.out.write_all(&[q])?;
        self.copy_rest_of_string(false)
    }

    /// Copies the rest of a string token whose opening quote (and maybe more) is written;
    /// `escaped` says whether the last byte written was an unfinished backslash escape.
    fn copy_rest_of_string(&mut self, escaped: bool) -> io::Result<()> {
        let mut escaped = escaped;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Err(invalid("unterminated string"));
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                match (escaped, b) {
                    (false, b'\\') => escaped = true,
                    (false, b'"') => {
                        end = Some(i + 1);
                        break;
                    }
                    (false, 0..=0x1f) => return Err(invalid("control character in string")),
                    _ => escaped = false,
                }
            }
            let n = end.unwrap_or(buf.len());
            self.out.write_all(&buf[..n])?;
            self.input.consume(n);
            if end.is_some() {
                return Ok(());
            }
        }
    }
}

/// Decodes a string token (with its quotes).
fn decode(raw: &[u8]) -> io::Result<String> {
    let inner = &raw[1..raw.len() - 1];
    let text = std::str::from_utf8(inner).map_err(|_| invalid("string is not UTF-8"))?;
    if !text.contains('\\') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('/') => out.push('/'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                // Four hex digits exactly: `from_str_radix` alone would take `+04b` or `41"`.
                let hex = |chars: &mut std::str::Chars<'_>| -> io::Result<u32> {
                    let h: String = chars.by_ref().take(4).collect();
                    if h.len() != 4 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
                        return Err(invalid("bad \\u escape"));
                    }
                    u32::from_str_radix(&h, 16).map_err(|_| invalid("bad \\u escape"))
                };
                let hi = hex(&mut chars)?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if chars.next() != Some('\\') || chars.next() != Some('u') {
                        return Err(invalid("lone surrogate"));
                    }
                    let lo = hex(&mut chars)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(invalid("lone surrogate"));
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                out.push(char::from_u32(code).ok_or_else(|| invalid("bad \\u escape"))?);
            }
            _ => return Err(invalid("bad escape")),
        }
    }
    Ok(out)
}

/// Encodes a string as a JSON token.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Where entries are: for readers that parse a document elsewhere (serde_json) and need line
// numbers for their messages, without a second tokenizer.

/// Where an object member or array element begins, as `Visitor::entry` is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The 1-based line of a member's key, or of an element's first byte.
    pub(crate) line: usize,
    pub(crate) kind: Kind,
}

/// What an entry's value is, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    /// A number, `true`, `false` or `null`.
    Literal,
}

/// Walks one JSON document without writing it anywhere: for visitors that only look (at
/// `entry`, or at the strings they want).
/// The members of a JSON object, in order, each value as its bytes: for documents whose objects
/// must be rebuilt without losing the order or spelling of what they hold.
pub(crate) fn members(raw: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut sink = io::sink();
    let mut p = Parser {
        input: &mut &raw[..],
        out: &mut sink,
        path: Vec::new(),
        line: 1,
    };
    p.ws()?;
    p.expect(b'{')?;
    let mut out = Vec::new();
    loop {
        p.ws()?;
        match p.peek()? {
            Some(b'}') if out.is_empty() => {
                p.expect(b'}')?;
                break;
            }
            Some(b'"') => {}
            _ => return Err(invalid("expected an object key")),
        }
        let (key, whole) = p.raw_string(MAX_KEY)?;
        if !whole {
            return Err(invalid("key too long"));
        }
        let key = decode(&key)?;
        p.ws()?;
        p.expect(b':')?;
        p.ws()?;
        out.push((key, p.capture()?));
        p.ws()?;
        match p.next()? {
            b',' => {}
            b'}' => break,
            b => return Err(invalid(&format!("unexpected '{}' in object", b as char))),
        }
    }
    p.ws()?;
    if p.peek()?.is_some() {
        return Err(invalid("trailing data after the JSON object"));
    }
    Ok(out)
}

/// Writes an object from members (as `members` gives them), in that order.
pub(crate) fn object(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![b'{'];
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(encode(k).as_bytes());
        out.push(b':');
        out.extend_from_slice(v);
    }
    out.push(b'}');
    out
}

/// A visitor that wants nothing.
struct Nothing;

impl Visitor for Nothing {}

/// A writer that fails past `left` bytes.
struct CappedWrite<'a> {
    inner: &'a mut Vec<u8>,
    left: u64,
}

impl Write for CappedWrite<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(invalid("value too large to hold"));
        }
        self.left -= buf.len() as u64;
        self.inner.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn scan(doc: &[u8], visitor: &mut dyn Visitor) -> io::Result<()> {
    rewrite(&mut &doc[..], &mut io::sink(), visitor)
}

impl Parser<'_> {
    /// Reads the next value whole (checked, not visited) and returns its bytes.
    fn capture(&mut self) -> io::Result<Vec<u8>> {
        let mut raw = Vec::new();
        self.value_into(&mut CappedWrite {
            inner: &mut raw,
            left: MAX_WHOLE,
        })?;
        Ok(raw)
    }

    /// Reads the next value (checked, not visited) into `out` instead of the output.
    fn value_into(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let mut sub = Parser {
            input: &mut *self.input,
            out,
            path: std::mem::take(&mut self.path),
            line: self.line,
        };
        let read = sub.value(&mut Nothing);
        self.path = sub.path;
        self.line = sub.line;
        read
    }

    /// Tells the visitor about the entry at `self.path`, whose value is next.
    fn entry(&mut self, v: &mut dyn Visitor, line: usize) -> io::Result<()> {
        let kind = match self.peek()? {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => Kind::Literal,
            // Not a value: `value` reports the error next.
            _ => return Ok(()),
        };
        v.entry(&self.path, Entry { line, kind });
        Ok(())
    }
}
