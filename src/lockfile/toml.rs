//! A TOML reader sufficient for lockfiles: tables, arrays of tables, dotted and quoted keys,
//! basic, literal and multi-line strings, arrays over several lines, inline tables. Numbers,
//! booleans and dates are kept as their text. A syntax error is reported with its line, marks
//! the table it is in as broken, and reading resumes at the next line starting with '['.
//! Pure: text in, a tree of `Table`s and `(line, message)` errors out; which keys mean what is
//! each lockfile format's business.

#[derive(Debug)]
pub(super) enum Value {
    Str(String),
    /// A number, boolean or date, as written (read only by tests: no lockfile key we use
    /// holds one).
    Other(#[cfg_attr(not(test), allow(dead_code))] String),
    Array(Vec<Value>),
    Table(Table),
}

#[derive(Debug, Default)]
pub(super) struct Table {
    /// The line of its header (or of its '{' if inline).
    pub(super) line: usize,
    /// A syntax error in this table was reported: its entry is incomplete.
    pub(super) broken: bool,
    pub(super) entries: Vec<(String, Value)>,
}

impl Table {
    fn new(line: usize) -> Table {
        Table {
            line,
            ..Table::default()
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(super) fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn table(&self, key: &str) -> Option<&Table> {
        match self.get(key)? {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The tables of an array of tables (or of inline tables).
    pub(super) fn tables<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a Table> + 'a {
        let items = match self.get(key) {
            Some(Value::Array(a)) => a.as_slice(),
            _ => &[],
        };
        items.iter().filter_map(|v| match v {
            Value::Table(t) => Some(t),
            _ => None,
        })
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// Walks (creating) `path` from `t`; an array of tables stands for its last table.
fn nav<'t>(mut t: &'t mut Table, path: &[String]) -> Result<&'t mut Table, String> {
    for k in path {
        let pos = match t.entries.iter().position(|(key, _)| key == k) {
            Some(p) => p,
            None => {
                t.entries.push((k.clone(), Value::Table(Table::default())));
                t.entries.len() - 1
            }
        };
        t = match &mut t.entries[pos].1 {
            Value::Table(x) => x,
            Value::Array(a) => match a.last_mut() {
                Some(Value::Table(x)) => x,
                _ => return Err(format!("{k:?} is not a table")),
            },
            _ => return Err(format!("{k:?} is not a table")),
        };
    }
    Ok(t)
}

fn insert(t: &mut Table, key: &[String], v: Value) -> Result<(), String> {
    let Some((last, parents)) = key.split_last() else {
        return Err("empty key".to_string());
    };
    let t = nav(t, parents)?;
    if t.get(last).is_some() {
        return Err(format!("duplicate key {last:?}"));
    }
    t.entries.push((last.clone(), v));
    Ok(())
}

pub(super) fn parse(text: &str) -> (Table, Vec<(usize, String)>) {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        lines: LineIndex::new(text),
    };
    let mut root = Table::new(1);
    let mut current: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    loop {
        p.skip_blank(true);
        if p.i >= p.b.len() {
            break;
        }
        // A header that cannot be read leaves `current` at the table before it, which is
        // fine: the resync skips the bad table's lines, and the one before is not broken.
        let (res, mark) = if p.peek() == Some(b'[') {
            match p.header(&mut root) {
                Ok(path) => {
                    current = path;
                    (p.end_of_line(), true)
                }
                Err(e) => (Err(e), false),
            }
        } else {
            (
                p.keyval(&mut root, &current).and_then(|()| p.end_of_line()),
                true,
            )
        };
        if let Err(msg) = res {
            errors.push((p.lines.line(p.i), msg));
            if let Some(t) = nav(&mut root, &current).ok().filter(|_| mark) {
                t.broken = true;
            }
            p.resync();
        }
    }
    (root, errors)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    /// Always on a char boundary: it moves over ASCII bytes or whole chars only.
    i: usize,
    lines: LineIndex,
}

const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.b[self.i.min(self.b.len())..].starts_with(s.as_bytes())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// Blanks and comments, and newlines too if `newlines`.
    fn skip_blank(&mut self, newlines: bool) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.i += 1,
                Some(b'\r' | b'\n') if newlines => self.i += 1,
                Some(b'#') => self.skip_line(),
                _ => return,
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'\n' {
                return;
            }
            self.i += 1;
        }
    }

    /// After an error: on to the next line that starts a table.
    fn resync(&mut self) {
        loop {
            self.skip_line();
            if self.peek().is_none() {
                return;
            }
            self.i += 1;
            if self.peek() == Some(b'[') {
                return;
            }
        }
    }

    fn end_of_line(&mut self) -> Result<(), String> {
        self.skip_blank(false);
        match self.peek() {
            None | Some(b'\n') => Ok(()),
            Some(b'\r') if self.b.get(self.i + 1) == Some(&b'\n') => Ok(()),
            Some(_) => Err("unexpected text after a value".to_string()),
        }
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.s.get(self.i..)?.chars().next()?;
        self.i += c.len_utf8();
        Some(c)
    }

    fn header(&mut self, root: &mut Table) -> Result<Vec<String>, String> {
        let line = self.lines.line(self.i);
        let array = self.starts_with("[[");
        self.i += if array { 2 } else { 1 };
        let path = self.key()?;
        self.skip_ws();
        let close = if array { "]]" } else { "]" };
        if !self.starts_with(close) {
            return Err(format!("expected {close:?} to close a table header"));
        }
        self.i += close.len();
        if array {
            let Some((last, parents)) = path.split_last() else {
                return Err("empty table name".to_string());
            };
            let t = nav(root, parents)?;
            match t.get_mut(last) {
                None => t.entries.push((
                    last.clone(),
                    Value::Array(vec![Value::Table(Table::new(line))]),
                )),
                Some(Value::Array(a)) => a.push(Value::Table(Table::new(line))),
                Some(_) => return Err(format!("{last:?} is not an array of tables")),
            }
        } else {
            let t = nav(root, &path)?;
            if t.line == 0 {
                t.line = line;
            }
        }
        Ok(path)
    }

    fn keyval(&mut self, root: &mut Table, current: &[String]) -> Result<(), String> {
        let (key, v) = self.key_value(0)?;
        insert(nav(root, current)?, &key, v)
    }

    /// `key = value`, the value at `depth`.
    fn key_value(&mut self, depth: usize) -> Result<(Vec<String>, Value), String> {
        let key = self.key()?;
        self.skip_ws();
        if self.peek() != Some(b'=') {
            return Err(format!("expected '=' after key {:?}", key.join(".")));
        }
        self.i += 1;
        self.skip_ws();
        Ok((key, self.value(depth)?))
    }

    fn key(&mut self) -> Result<Vec<String>, String> {
        let mut parts = Vec::new();
        loop {
            self.skip_ws();
            let part = match self.peek() {
                Some(b'"') => self.basic_string()?,
                Some(b'\'') => self.literal_string()?,
                _ => {
                    let start = self.i;
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
                    {
                        self.i += 1;
                    }
                    if start == self.i {
                        return Err("expected a key".to_string());
                    }
                    self.s[start..self.i].to_string()
                }
            };
            parts.push(part);
            self.skip_ws();
            if self.peek() != Some(b'.') {
                return Ok(parts);
            }
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("values nested too deeply".to_string());
        }
        match self.peek() {
            Some(b'"') => self.basic_string().map(Value::Str),
            Some(b'\'') => self.literal_string().map(Value::Str),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.inline_table(depth),
            _ => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, b',' | b']' | b'}' | b'#' | b'\n' | b'\r'))
                {
                    self.i += 1;
                }
                // Bytes up to an ASCII delimiter: `start..i` is on char boundaries.
                let token = self.s[start..self.i].trim_end();
                self.i = start + token.len();
                let ok = |c: char| c.is_ascii_alphanumeric() || "+-_.:".contains(c);
                // The one blank allowed is between a date and a time: `1979-05-27 07:32:00`.
                let (date, time) = token.split_once(' ').unwrap_or((token, "0"));
                let date_time = token.len() == date.len() || date.len() == 10;
                if token.is_empty() || !date_time || !date.chars().chain(time.chars()).all(ok) {
                    return Err("expected a value".to_string());
                }
                Ok(Value::Other(token.to_string()))
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        let mut items = Vec::new();
        self.list(b']', "an array", |p| {
            items.push(p.value(depth + 1)?);
            Ok(())
        })?;
        Ok(Value::Array(items))
    }

    /// Lenient beyond TOML 1.0: newlines and a trailing comma are accepted, as TOML 1.1 does.
    fn inline_table(&mut self, depth: usize) -> Result<Value, String> {
        let mut t = Table::new(self.lines.line(self.i));
        self.list(b'}', "an inline table", |p| {
            let (key, v) = p.key_value(depth + 1)?;
            insert(&mut t, &key, v)
        })?;
        Ok(Value::Table(t))
    }

    /// From an opening bracket to its `close`: items read by `item`, separated by commas, over
    /// newlines and comments, with an optional trailing comma. `what` names the list in errors.
    fn list(
        &mut self,
        close: u8,
        what: &str,
        mut item: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        self.i += 1;
        loop {
            self.skip_blank(true);
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(());
            }
            item(self)?;
            self.skip_blank(true);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(format!("expected ',' or '{}' in {what}", close as char)),
            }
        }
    }

    fn basic_string(&mut self) -> Result<String, String> {
        let multi = self.starts_with("\"\"\"");
        self.i += if multi { 3 } else { 1 };
        if multi {
            self.trim_first_newline();
        }
        let mut out = String::new();
        loop {
            if multi && self.starts_with("\"\"\"") {
                self.i += 3;
                return Ok(out);
            }
            match self.next_char() {
                None => return Err("unterminated string".to_string()),
                Some('"') if !multi => return Ok(out),
                Some('\n') if !multi => {
                    self.i -= 1;
                    return Err("unterminated string".to_string());
                }
                Some('\\') => self.escape(multi, &mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, multi: bool, out: &mut String) -> Result<(), String> {
        let c = self.next_char().ok_or("unterminated string")?;
        let simple = match c {
            'b' => Some('\u{8}'),
            't' => Some('\t'),
            'n' => Some('\n'),
            'f' => Some('\u{c}'),
            'r' => Some('\r'),
            'e' => Some('\u{1b}'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            return Ok(());
        }
        match c {
            'u' | 'U' => {
                let n = if c == 'u' { 4 } else { 8 };
                let digits = self.s.get(self.i..self.i + n).ok_or("bad \\u escape")?;
                // Hex digits only: `from_str_radix` alone would also take `+041`.
                if !digits.bytes().all(|d| d.is_ascii_hexdigit()) {
                    return Err("bad \\u escape".into());
                }
                let code = u32::from_str_radix(digits, 16).map_err(|_| "bad \\u escape")?;
                out.push(char::from_u32(code).ok_or("bad \\u escape")?);
                self.i += n;
                Ok(())
            }
            // A line-ending backslash swallows the newline and the blanks after it.
            ' ' | '\t' | '\r' | '\n' if multi => {
                while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                    self.i += 1;
                }
                Ok(())
            }
            _ => Err(format!("bad escape \\{c}")),
        }
    }

    fn literal_string(&mut self) -> Result<String, String> {
        let multi = self.starts_with("'''");
        self.i += if multi { 3 } else { 1 };
        if multi {
            self.trim_first_newline();
        }
        let start = self.i;
        loop {
            if multi && self.starts_with("'''") {
                let s = self.s[start..self.i].to_string();
                self.i += 3;
                return Ok(s);
            }
            match self.peek() {
                None => return Err("unterminated string".to_string()),
                Some(b'\'') if !multi => {
                    let s = self.s[start..self.i].to_string();
                    self.i += 1;
                    return Ok(s);
                }
                Some(b'\n') if !multi => return Err("unterminated string".to_string()),
                Some(_) => {
                    self.next_char();
                }
            }
        }
    }

    fn trim_first_newline(&mut self) {
        if self.starts_with("\r\n") {
            self.i += 2;
        } else if self.starts_with("\n") {
            self.i += 1;
        }
    }
}

/// Byte offset → 1-based line number.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn line(&self, pos: usize) -> usize {
        self.0.partition_point(|&nl| nl < pos) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockfile::testing::text_of;

    #[test]
    fn toml_reader() {
        let text = r#"# comment
title = "a \"quoted\" \u00e9 \\ string" # trailing comment
lit = 'C:\path'
multi = """
line one
line \
    two"""
multilit = '''
raw \n'''
num = 3
float = -1.5e3
yes = true
date = 1979-05-27T07:32:00Z
spaced = 1979-05-27 07:32:00
arr = [ "x", 'y',
  # a comment inside
  "z", ]
nested = [[1, 2], ["a"]]
inline = { a = "1", b.c = "2", "q k" = { d = [] } }
dotted.key = "v"

[table]
"quoted key" = "q"

[table.sub]
k = "s"

[[arr_t]]
n = "1"

[[arr_t.kids]]
n = "1.1"

[[arr_t]]
n = "2"
"#;
        let (root, errors) = parse(text);
        assert_eq!(errors, []);
        assert_eq!(root.str("title"), Some("a \"quoted\" é \\ string"));
        assert_eq!(root.str("lit"), Some("C:\\path"));
        assert_eq!(root.str("multi"), Some("line one\nline two"));
        assert_eq!(root.str("multilit"), Some("raw \\n"));
        assert!(matches!(root.get("num"), Some(Value::Other(n)) if n == "3"));
        assert!(matches!(root.get("spaced"), Some(Value::Other(n)) if n == "1979-05-27 07:32:00"));
        let Some(Value::Array(arr)) = root.get("arr") else {
            panic!()
        };
        assert_eq!(arr.len(), 3);
        let inline = root.table("inline").unwrap();
        assert_eq!(inline.str("a"), Some("1"));
        assert_eq!(inline.table("b").unwrap().str("c"), Some("2"));
        assert!(inline.table("q k").unwrap().get("d").is_some());
        assert_eq!(root.table("dotted").unwrap().str("key"), Some("v"));
        let table = root.table("table").unwrap();
        assert_eq!(table.line, 22);
        assert_eq!(table.str("quoted key"), Some("q"));
        assert_eq!(table.table("sub").unwrap().str("k"), Some("s"));
        let arr_t: Vec<&Table> = root.tables("arr_t").collect();
        assert_eq!(arr_t.len(), 2);
        assert_eq!((arr_t[0].line, arr_t[1].line), (28, 34));
        assert_eq!(
            arr_t[0].tables("kids").next().unwrap().str("n"),
            Some("1.1")
        );
        assert_eq!(arr_t[1].str("n"), Some("2"));
        assert!(arr_t[1].get("kids").is_none());
    }

    #[test]
    fn toml_reader_errors_resync() {
        let text = text_of(&[
            r#"a = "x""#,
            "b = nope!",
            r#"c = "y""#,
            "[t]",
            "d = [1,",
            "  2",
            "  3]",
            "e = 'z'",
            "[u]",
            "f = 1 2",
            "[v]",
            r#"g = "ok""#,
            "[w",
            "h = 1",
            "[x]",
            r#"i = "\q""#,
            "[y]",
            "j = 'k'",
            "j = 'dup'",
        ]);
        let (root, errors) = parse(&text);
        let lines: Vec<usize> = errors.iter().map(|e| e.0).collect();
        assert_eq!(lines, [2, 7, 10, 13, 16, 19], "{errors:?}");
        assert!(root.broken);
        assert!(root.table("t").unwrap().broken);
        assert!(root.table("t").unwrap().get("e").is_none());
        assert!(root.table("u").unwrap().broken);
        let v = root.table("v").unwrap();
        assert!(!v.broken);
        assert_eq!(v.str("g"), Some("ok"));
        assert!(root.table("w").is_none());
        assert!(root.table("y").unwrap().broken);
    }

    // See: issue #10 (found in review beside the fuzz findings): `\u+041` was read as `A`.
    #[test]
    fn r10_unicode_escapes_are_hex_digits_only() {
        let (root, errors) =
            parse("a = \"\\u0041\\U0001F600\"\n[t]\nb = \"\\u+041\"\n[u]\nc = \"\\U+001F600\"\n");
        assert_eq!(root.str("a"), Some("A\u{1F600}"));
        let lines: Vec<usize> = errors.iter().map(|e| e.0).collect();
        assert_eq!(lines, [3, 5], "{errors:?}");
    }
}
