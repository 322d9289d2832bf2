//! JSON paths and path patterns: `Seg`, one step from the document root, and `Pattern`, the
//! `versions/*/dist/tarball` syntax visitors match paths against (and capture steps of).

/// One step of the path from the document root to the current value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

impl Seg {
    pub(crate) fn key(&self) -> Option<&str> {
        match self {
            Seg::Key(k) => Some(k),
            Seg::Index(_) => None,
        }
    }
}

/// A path pattern over `Seg`s, written `versions/*/dist/tarball`: a literal matches that key,
/// `*` any one step (key or index), `**` any number of steps (in patterns without `**` only, `*`
/// steps can be captured). Matching allocates nothing: visitors ask it for every value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pattern(&'static str);

impl Pattern {
    pub(crate) const fn new(pattern: &'static str) -> Pattern {
        Pattern(pattern)
    }

    pub(crate) fn matches(&self, path: &[Seg]) -> bool {
        matches(self.0, path)
    }

    /// The key that the `n`th `*` (from 0) matched, if the path matches and it was a key.
    pub(crate) fn capture<'p>(&self, path: &'p [Seg], n: usize) -> Option<&'p str> {
        debug_assert!(
            !self.0.contains("**"),
            "captures in {} are ambiguous",
            self.0
        );
        if !self.matches(path) {
            return None;
        }
        self.0
            .split('/')
            .zip(path)
            .filter(|(p, _)| *p == "*")
            .nth(n)
            .and_then(|(_, seg)| seg.key())
    }
}

fn matches(pattern: &str, path: &[Seg]) -> bool {
    if pattern.is_empty() {
        return path.is_empty();
    }
    let (head, rest) = pattern.split_once('/').unwrap_or((pattern, ""));
    match head {
        "**" => (0..=path.len()).any(|i| matches(rest, &path[i..])),
        "*" => !path.is_empty() && matches(rest, &path[1..]),
        key => matches!(path.first(), Some(Seg::Key(k)) if k == key) && matches(rest, &path[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let path = |p: &str| -> Vec<Seg> {
            p.split('/')
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => Seg::Index(i),
                    Err(_) => Seg::Key(s.to_string()),
                })
                .collect()
        };
        let p = Pattern::new("versions/*/dist/tarball");
        assert!(p.matches(&path("versions/1.0.0/dist/tarball")));
        assert!(!p.matches(&path("versions/1.0.0/dist")));
        assert!(!p.matches(&path("x/versions/1.0.0/dist/tarball")));
        assert_eq!(
            p.capture(&path("versions/1.0.0/dist/tarball"), 0),
            Some("1.0.0")
        );
        assert_eq!(p.capture(&path("versions/1.0.0/dist/tarball"), 1), None);
        let any = Pattern::new("**/dist/tarball");
        assert!(any.matches(&path("dist/tarball")));
        assert!(any.matches(&path("versions/1.0.0/dist/tarball")));
        assert!(!any.matches(&path("versions/1.0.0/dist/tarball/x")));
        let idx = Pattern::new("files/*/url");
        assert!(idx.matches(&path("files/3/url")));
        assert_eq!(idx.capture(&path("files/3/url"), 0), None);
    }
}
