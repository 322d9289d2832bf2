//! Just enough of Elixir's term syntax for mix.lock: strings, atoms, lists (with keyword
//! pairs), tuples, maps, numbers and bare words. Pure and line-based: `mix_lock` hands
//! it one entry at a time, so an error costs one entry.

#[derive(Debug, PartialEq)]
pub(super) enum Term {
    Str(String),
    Atom(String),
    List(Vec<Term>),
    Tuple(Vec<Term>),
    Map(Vec<(Term, Term)>),
    Other(String),
}

/// `"key": {tuple}` or `"key" => {tuple}`, with a trailing `,` or `}`.
pub(super) fn entry(s: &str) -> Result<(String, Vec<Term>), String> {
    let mut p = P { s, i: 0 };
    p.ws();
    if p.peek() != Some('"') {
        return Err("expected a quoted name".to_string());
    }
    let key = p.string()?;
    p.ws();
    if p.eat("=>") || p.eat(":") {
        p.ws();
    } else {
        return Err(format!("expected ':' or '=>' after {key:?}"));
    }
    let Term::Tuple(t) = p.term(0)? else {
        return Err(format!("{key}: expected a tuple"));
    };
    p.ws();
    let _ = p.eat(",") || p.eat("}");
    p.ws();
    if p.i < s.len() {
        return Err(format!("{key}: unexpected text after the entry"));
    }
    Ok((key, t))
}

struct P<'a> {
    s: &'a str,
    /// Always on a char boundary.
    i: usize,
}

const MAX_DEPTH: usize = 32;

impl P<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i..)?.chars().next()
    }

    fn eat(&mut self, t: &str) -> bool {
        let yes = self.s.get(self.i..).is_some_and(|r| r.starts_with(t));
        if yes {
            self.i += t.len();
        }
        yes
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += self.peek().map_or(1, char::len_utf8);
        }
    }

    fn word(&mut self) -> &str {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '@' | '?' | '!' | '.'))
        {
            self.i += self.peek().map_or(1, char::len_utf8);
        }
        &self.s[start..self.i]
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.i += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = self.peek().ok_or("unterminated string")?;
                    self.i += e.len_utf8();
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                c => out.push(c),
            }
        }
    }

    fn term(&mut self, depth: usize) -> Result<Term, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".to_string());
        }
        self.ws();
        match self.peek() {
            None => Err("unexpected end of line".to_string()),
            Some('"') => self.string().map(Term::Str),
            Some(':') => {
                self.i += 1;
                if self.peek() == Some('"') {
                    return self.string().map(Term::Atom);
                }
                let w = self.word();
                if w.is_empty() {
                    return Err("empty atom".to_string());
                }
                Ok(Term::Atom(w.to_string()))
            }
            Some('{') => {
                self.i += 1;
                self.seq('}', depth).map(Term::Tuple)
            }
            Some('[') => {
                self.i += 1;
                self.seq(']', depth).map(Term::List)
            }
            Some('%') if self.eat("%{") => {
                let mut pairs = Vec::new();
                loop {
                    self.ws();
                    if self.eat("}") {
                        return Ok(Term::Map(pairs));
                    }
                    let (k, v) = match self.keyword(depth)? {
                        Some(Term::Tuple(mut kv)) if kv.len() == 2 => {
                            let v = kv.pop().unwrap_or(Term::Other(String::new()));
                            (kv.pop().unwrap_or(Term::Other(String::new())), v)
                        }
                        _ => {
                            let k = self.term(depth + 1)?;
                            self.ws();
                            if !self.eat("=>") {
                                return Err("expected '=>' in a map".to_string());
                            }
                            (k, self.term(depth + 1)?)
                        }
                    };
                    pairs.push((k, v));
                    self.ws();
                    if !self.eat(",") && self.peek() != Some('}') {
                        return Err("expected ',' or '}' in a map".to_string());
                    }
                }
            }
            Some(c) if c.is_alphanumeric() || c == '-' || c == '_' => {
                let start = self.i;
                self.eat("-");
                self.word();
                Ok(Term::Other(self.s[start..self.i].to_string()))
            }
            Some(c) => Err(format!("unexpected {c:?}")),
        }
    }

    /// `key: value` (as in `[hex: :castore, optional: false]`), as a two-element tuple.
    fn keyword(&mut self, depth: usize) -> Result<Option<Term>, String> {
        let start = self.i;
        let w = self.word().to_string();
        if !w.is_empty() && self.peek() == Some(':') {
            self.i += 1;
            if self.peek().is_some_and(char::is_whitespace) {
                let v = self.term(depth + 1)?;
                return Ok(Some(Term::Tuple(vec![Term::Atom(w), v])));
            }
        }
        self.i = start;
        Ok(None)
    }

    fn seq(&mut self, close: char, depth: usize) -> Result<Vec<Term>, String> {
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(items);
            }
            let item = match self.keyword(depth)? {
                Some(kv) => kv,
                None => self.term(depth + 1)?,
            };
            items.push(item);
            self.ws();
            if self.peek() == Some(',') {
                self.i += 1;
            } else if self.peek() != Some(close) {
                return Err(format!("expected ',' or {close:?}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(s: &str) -> Term {
        Term::Atom(s.to_string())
    }

    fn string(s: &str) -> Term {
        Term::Str(s.to_string())
    }

    #[test]
    fn reads_entries() {
        let (key, t) =
            entry(r#""a": {:hex, :"q b", "1.0", [hex: :a, n: -1], %{"k" => "v", x: 2}, "e\"\n"},"#)
                .unwrap();
        assert_eq!(key, "a");
        assert_eq!(
            t,
            [
                atom("hex"),
                atom("q b"),
                string("1.0"),
                Term::List(vec![
                    Term::Tuple(vec![atom("hex"), atom("a")]),
                    Term::Tuple(vec![atom("n"), Term::Other("-1".to_string())]),
                ]),
                Term::Map(vec![
                    (string("k"), string("v")),
                    (atom("x"), Term::Other("2".to_string())),
                ]),
                string("e\"\n"),
            ]
        );
        let (key, t) = entry(r#""b" => {:git, "u"}}"#).unwrap();
        assert_eq!((key.as_str(), t.len()), ("b", 2));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        for (text, want) in [
            (r#"a: {:hex}"#, "quoted name"),
            (r#""a" {:hex}"#, "expected ':' or '=>'"),
            (r#""a": [:hex]"#, "expected a tuple"),
            (r#""a": {:hex} x"#, "unexpected text"),
            (r#""a": {:hex, "x"#, "unterminated string"),
            (r#""a": {:hex, :}"#, "empty atom"),
            (r#""a": {:hex, %{1 2}}"#, "'=>'"),
            (r#""a": {:hex; 1}"#, "expected ','"),
        ] {
            let err = entry(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
        let deep = format!(r#""a": {}"#, "{".repeat(100));
        assert!(entry(&deep).unwrap_err().contains("nested too deeply"));
    }
}
