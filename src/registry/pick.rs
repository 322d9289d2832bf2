//! Version picking for `proxy mirror`: which of a package's recorded links a wanted version
//! (`Want`) takes, and the version order most registries share (`version_cmp`).

use super::Link;

/// Which versions of a package `proxy mirror` fetches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    Exact(String),
    Latest,
    All,
}

/// Picks the links of the wanted versions from those recorded for a package. An exact version
/// takes every link of it, yanked or not (a lockfile may pin one); "all" takes every version not
/// yanked; "latest" takes the registry's own latest when a link has it, else the highest release
/// (neither yanked nor a pre-release), else the highest version not yanked. Documents of no
/// version (the next page of a version list) are taken whatever is wanted: what they list may
/// be it.
pub(crate) fn pick<'a>(links: &'a [Link], want: &Want, latest: Option<&str>) -> Vec<&'a Link> {
    let prerelease = |l: &Link| l.flags.prerelease || l.version.contains('-');
    let chosen: Option<&str> = match want {
        Want::Exact(v) => Some(v),
        Want::All => return links.iter().filter(|l| !l.flags.yanked).collect(),
        Want::Latest => {
            let highest = |f: &dyn Fn(&Link) -> bool| {
                links
                    .iter()
                    .filter(|l| !l.flags.yanked && !l.version.is_empty() && f(l))
                    .map(|l| l.version.as_str())
                    .max_by(|a, b| version_cmp(a, b))
            };
            latest
                .filter(|v| links.iter().any(|l| l.version == *v))
                .or_else(|| highest(&|l| !prerelease(l)))
                .or_else(|| highest(&|_| true))
        }
    };
    let unversioned = |l: &Link| l.flags.document && l.version.is_empty();
    links
        .iter()
        .filter(|l| unversioned(l) || chosen.is_some_and(|v| l.version == v))
        .collect()
}

/// Orders version strings the way most registries do: numeric runs compare as numbers, a
/// pre-release (`-…`) sorts before its release, anything else compares as text.
pub(crate) fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let split = |v: &str| -> (String, Option<String>) {
        let v = v.trim_start_matches('v');
        let v = v.split('+').next().unwrap_or(v);
        match v.split_once('-') {
            Some((r, p)) => (r.to_string(), Some(p.to_string())),
            None => (v.to_string(), None),
        }
    };
    let parts = |s: &str| -> Vec<(u64, String)> {
        s.split(['.', '-'])
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_string())
            })
            .collect()
    };
    let (ra, pa) = split(a);
    let (rb, pb) = split(b);
    match parts(&ra).cmp(&parts(&rb)) {
        Ordering::Equal => match (pa, pb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => parts(&x).cmp(&parts(&y)),
        },
        o => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Flags;

    #[test]
    fn versions_order_and_pick() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp("1.10.0", "1.9.0"), Greater);
        assert_eq!(version_cmp("1.0.0-rc.1", "1.0.0"), Less);
        assert_eq!(version_cmp("v2.0.0", "v1.99.99"), Greater);
        assert_eq!(version_cmp("1.0.0-alpha.2", "1.0.0-alpha.10"), Less);
        let link = |v: &str, file: &str, yanked: bool| Link {
            name: "p".into(),
            version: v.into(),
            filename: file.into(),
            path: file.into(),
            url: String::new(),
            digest: None,
            flags: Flags {
                yanked,
                ..Flags::default()
            },
        };
        let links = [
            link("1.0.0", "a", false),
            link("1.2.0", "b", false),
            link("1.2.0", "b2", false),
            link("2.0.0-rc.1", "c", false),
            link("3.0.0", "d", true),
        ];
        let files = |want: &Want, latest: Option<&str>| -> Vec<String> {
            pick(&links, want, latest)
                .iter()
                .map(|l| l.filename.clone())
                .collect()
        };
        assert_eq!(files(&Want::Latest, None), ["b", "b2"]);
        assert_eq!(files(&Want::Latest, Some("1.0.0")), ["a"]);
        // A latest the links do not know is no reason to fetch nothing.
        assert_eq!(files(&Want::Latest, Some("9.9.9")), ["b", "b2"]);
        assert_eq!(files(&Want::All, None), ["a", "b", "b2", "c"]);
        assert_eq!(files(&Want::Exact("3.0.0".into()), None), ["d"]);
        assert!(files(&Want::Exact("9".into()), None).is_empty());
        let only_pre = [link("2.0.0-rc.1", "c", false)];
        assert_eq!(pick(&only_pre, &Want::Latest, None).len(), 1);
        // A further page of a list belongs to every version.
        let mut page = link("", "page2", false);
        page.flags.document = true;
        let paged = [link("1.0.0", "a", false), page];
        let files = |want: &Want| -> Vec<String> {
            pick(&paged, want, None)
                .iter()
                .map(|l| l.filename.clone())
                .collect()
        };
        assert_eq!(files(&Want::Exact("9".into())), ["page2"]);
        assert_eq!(files(&Want::Latest), ["a", "page2"]);
        assert_eq!(files(&Want::All), ["a", "page2"]);
    }
}
