//! Helm chart repositories over HTTP (an `index.yaml` and chart archives), as `helm repo add`,
//! `helm repo update` and `helm pull` use them. Charts stored in OCI registries are pulled
//! through `/v2/` like images (`oci/`).
//!
//! URL grammar under `/helm`, where `{repo}` names `upstream.helm.{repo}` (without it,
//! `upstream.helm`, the default repository, if one is set):
//! - `[/{repo}]/index.yaml`: the index, mutable. Streamed through a line rewriter that points
//!   every chart URL (relative or absolute, on the repository's host or elsewhere) at
//!   `[/{repo}]/charts/{chart}/{version}/{file}`; the rest of the document is copied as it is.
//!   Public indexes reach tens of megabytes, so it is never held whole: one release entry at a
//!   time (bounded), and each entry's `name`, `version`, `digest` and `urls` read from its lines.
//! - `[/{repo}]/charts/{chart}/{version}/{file}`: a chart archive, immutable, fetched from the URL
//!   the index gave and verified against the index's `digest` (SHA-256).
//! - `…/{file}.prov`: its provenance file, fetched from beside the chart, cached unverified (it is
//!   a signature: `helm --verify` checks it against a keyring).
//!
//! Charts often live on another host than the index (GitHub release assets): those hosts must be
//! listed in `upstream.helm_charts` for the proxy to fetch from them.

use std::io::{BufRead, Read, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Flags, Found, Kind, Link, Metadata, Mirror,
    Plan, Registry, Request, Spec, UpstreamKey, Want, safe_component,
};
use crate::error::{Error, Result};
use crate::url::escape;

pub(crate) struct Helm;

const INDEX: Kind = Kind("index");

/// The name the default repository (`upstream.helm`) is recorded under; no named upstream can
/// be called so (names start with a letter or digit).
const DEFAULT_REPO: &str = "_default";

static SPEC: Spec = Spec {
    name: "helm",
    client: "helm repo add NAME {base}/helm/NAME",
    upstreams: &[
        UpstreamKey::named("helm", ""),
        // Never asked directly: hosts chart URLs point at, and where those redirect.
        UpstreamKey::list(
            "helm_charts",
            "https://github.com,https://objects.githubusercontent.com,https://release-assets.githubusercontent.com",
        ),
    ],
    error_body: super::text_error,
    headers: &[],
    rewrite_header: None,
};

/// The largest release entry of an index read at once.
const MAX_ENTRY: usize = 1 << 20;

/// The longest line of an index read at once: no line of an entry is longer than the entry, and
/// a line outside entries (a top-level key) is far shorter. An upstream that sends one endless
/// line gets an error at this bound, not the proxy's memory.
const MAX_LINE: usize = MAX_ENTRY;

impl Registry for Helm {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let (repo, rest) = match segs.as_slice() {
            ["index.yaml"] | ["charts", _, _, _] => (None, &segs[..]),
            [repo, "index.yaml"] | [repo, "charts", _, _, _] => (Some(*repo), &segs[1..]),
            _ => {
                return Err(Error::NotFound(format!(
                    "helm route /{}: a repository serves index.yaml and charts/",
                    segs.join("/")
                )));
            }
        };
        let (name, url) = repository(repo, ctx)?;
        let index = Metadata {
            ecosystem: "helm",
            kind: INDEX,
            key: format!("{name}/index.yaml"),
            url: format!("{url}/index.yaml"),
            accept: Some("application/x-yaml, text/yaml, */*;q=0.1"),
            package: name.clone(),
            content_type: "application/x-yaml",
            ..Metadata::default()
        };
        match rest {
            ["index.yaml"] => Ok(Plan::Metadata(index)),
            ["charts", chart, version, file] => {
                if !file.ends_with(".tgz") && !file.ends_with(".tgz.prov") {
                    return Err(Error::NotFound(format!(
                        "helm chart file {file:?}: charts are .tgz archives (and .tgz.prov)"
                    )));
                }
                let key = ArtifactKey {
                    ecosystem: "helm",
                    name: format!("{name}/{chart}"),
                    version: version.to_string(),
                    filename: file.to_string(),
                };
                // Where a chart is, only its index says: no URL of our own to fall back on. A
                // chart asked for before the proxy has read the index (the client's copy is
                // newer than ours, or ours is gone) has the index read first.
                Ok(Plan::Artifact(
                    Artifact::new(key, String::new(), "application/gzip").listed_in(index),
                ))
            }
            _ => unreachable!("matched above"),
        }
    }

    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        let base = if doc.package == DEFAULT_REPO {
            format!("{}/helm", ctx.base_url)
        } else {
            format!("{}/helm/{}", ctx.base_url, escape(&doc.package))
        };
        let mut index = Index {
            doc,
            base,
            found,
            out,
        };
        index.rewrite(input)
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let name = self.canonical_name(name);
        let (repo, _) = name
            .split_once('/')
            .expect("canonical names have a repository");
        let index = if repo == DEFAULT_REPO {
            "index.yaml".to_string()
        } else {
            format!("{repo}/index.yaml")
        };
        Ok(Mirror::docs(name.clone(), vec![(index, None)], want))
    }

    /// `{repo}/{chart}`; a chart of the default repository is `_default/{chart}`.
    fn canonical_name(&self, name: &str) -> String {
        if name.contains('/') {
            name.to_string()
        } else {
            format!("{DEFAULT_REPO}/{name}")
        }
    }
}

/// The repository a request names: (the name it is recorded under, its URL).
fn repository(repo: Option<&str>, ctx: &Ctx<'_>) -> Result<(String, String)> {
    match repo {
        None => match ctx.upstream("helm") {
            "" => Err(Error::NotFound(
                "no default Helm repository: set upstream.helm, or use /helm/{name}/ with \
                 upstream.helm.{name}"
                    .into(),
            )),
            url => Ok((DEFAULT_REPO.to_string(), url.to_string())),
        },
        Some(name) => match ctx.named("helm", name) {
            Some(url) => Ok((name.to_string(), url.to_string())),
            None => Err(Error::NotFound(format!(
                "Helm repository {name:?} is not configured: set upstream.helm.{name}"
            ))),
        },
    }
}

/// The streaming rewrite of one index.
struct Index<'a> {
    doc: &'a Metadata,
    /// Our URL of the repository (a placeholder for the base URL, see `rebase.rs`).
    base: String,
    found: &'a mut dyn Found,
    out: &'a mut dyn Write,
}

/// A release entry being read: its lines, and the column of its keys.
struct Entry {
    /// The column of the `-` that starts it.
    dash: usize,
    lines: Vec<String>,
    bytes: usize,
}

impl Index<'_> {
    /// Copies the index line by line; the release entries under `entries:` (sequence items) are
    /// gathered one at a time and written with their URLs rewritten.
    fn rewrite(&mut self, input: &mut dyn BufRead) -> Result<(), Bad> {
        let mut in_entries = false;
        let mut chart = String::new();
        let mut entry: Option<Entry> = None;
        let mut line = String::new();
        loop {
            line.clear();
            let n = input.take(MAX_LINE as u64 + 1).read_line(&mut line)?;
            if n == 0 {
                break;
            }
            if n > MAX_LINE {
                return Err(Bad(format!(
                    "index.yaml: a line longer than {MAX_LINE} bytes"
                )));
            }
            let text = line.trim_end_matches(['\n', '\r']);
            let indent = text.len() - text.trim_start_matches(' ').len();
            let content = &text[indent..];
            let blank = content.is_empty() || content.starts_with('#');
            if let Some(e) = &mut entry {
                if blank || indent > e.dash {
                    e.bytes += line.len();
                    if e.bytes > MAX_ENTRY {
                        return Err(Bad(format!(
                            "an index entry of chart {chart:?} is larger than {MAX_ENTRY} bytes"
                        )));
                    }
                    e.lines.push(line.clone());
                    continue;
                }
                let done = entry.take().expect("checked above");
                self.entry(&chart, done)?;
            }
            if blank {
                self.out.write_all(line.as_bytes())?;
                continue;
            }
            if indent == 0 {
                in_entries = key_of(content) == Some("entries");
                if in_entries && value_of(content).is_some_and(|v| !v.is_empty()) {
                    return Err(Bad("index.yaml: `entries` in flow style is not read".into()));
                }
            } else if in_entries {
                if content == "-" || content.starts_with("- ") {
                    entry = Some(Entry {
                        dash: indent,
                        bytes: line.len(),
                        lines: vec![line.clone()],
                    });
                    continue;
                }
                if let Some(k) = key_of(content) {
                    chart = scalar(k).unwrap_or_default();
                }
            }
            self.out.write_all(line.as_bytes())?;
        }
        if let Some(e) = entry.take() {
            self.entry(&chart, e)?;
        }
        Ok(())
    }

    /// Writes one release entry with its chart URLs pointed here, and reports them.
    fn entry(&mut self, chart_key: &str, e: Entry) -> Result<(), Bad> {
        // The column of the entry's keys: after the dash and the blanks that follow it.
        let first = e.lines[0].trim_end_matches(['\n', '\r']);
        let after_dash = &first[e.dash + 1..];
        let col = e.dash + 1 + (after_dash.len() - after_dash.trim_start_matches(' ').len());
        // Each line's key (at the entry's column), and the sequence items under `urls`.
        let mut fields: Vec<(&str, &str)> = Vec::new();
        let mut urls: Vec<(usize, String)> = Vec::new();
        let mut flow_urls: Option<usize> = None;
        let mut in_urls = false;
        for (i, raw) in e.lines.iter().enumerate() {
            let text = raw.trim_end_matches(['\n', '\r']);
            let (indent, content) = if i == 0 {
                (col, &text[col.min(text.len())..])
            } else {
                let indent = text.len() - text.trim_start_matches(' ').len();
                (indent, &text[indent..])
            };
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if in_urls && indent >= col && (content == "-" || content.starts_with("- ")) {
                if let Some(u) = scalar(content[1..].trim_start()) {
                    urls.push((i, u));
                }
                continue;
            }
            if indent == col
                && let Some(k) = key_of(content)
            {
                let v = value_of(content).unwrap_or("");
                in_urls = k == "urls" && v.is_empty();
                if k == "urls" && v.starts_with('[') {
                    flow_urls = Some(i);
                    urls.extend(flow_list(v).into_iter().map(|u| (i, u)));
                }
                fields.push((k, v));
            } else if indent <= col {
                in_urls = false;
            }
        }
        let field = |k: &str| {
            fields
                .iter()
                .find(|(f, _)| *f == k)
                .and_then(|(_, v)| scalar(v))
        };
        let chart = field("name").unwrap_or_else(|| chart_key.to_string());
        let version = field("version").unwrap_or_default();
        let digest = field("digest").and_then(|d| {
            let hex = d.strip_prefix("sha256:").unwrap_or(&d).to_ascii_lowercase();
            (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(Digest {
                algo: Algo::Sha256,
                hex,
            })
        });
        let mut ours: Vec<(usize, String)> = Vec::new();
        for (line, url) in &urls {
            match self.chart(&chart, &version, url, digest.clone()) {
                Some(mine) => ours.push((*line, mine)),
                // A URL that cannot be served from here is left as it is.
                None => ours.push((*line, url.clone())),
            }
        }
        for (i, raw) in e.lines.iter().enumerate() {
            let mine: Vec<&str> = ours
                .iter()
                .filter(|(l, _)| *l == i)
                .map(|(_, u)| u.as_str())
                .collect();
            if mine.is_empty() {
                self.out.write_all(raw.as_bytes())?;
                continue;
            }
            let text = raw.trim_end_matches(['\n', '\r']);
            let eol = &raw[text.len()..];
            let indent = text.len() - text.trim_start_matches([' ', '-']).len();
            let lead = &text[..indent];
            if flow_urls == Some(i) {
                let key_at = text.find("urls:").unwrap_or(indent);
                write!(
                    self.out,
                    "{}urls: [{}]{eol}",
                    &text[..key_at],
                    mine.join(", ")
                )?;
            } else {
                write!(self.out, "{lead}{}{eol}", mine[0])?;
            }
        }
        Ok(())
    }

    /// Reports a chart URL of the index (resolved against the index's own URL) and returns the
    /// URL clients are to fetch it from here; `None` when it cannot be served from here.
    fn chart(
        &mut self,
        chart: &str,
        version: &str,
        url: &str,
        digest: Option<Digest>,
    ) -> Option<String> {
        let absolute = crate::url::join(&self.doc.url, url);
        let path = absolute.split(['?', '#']).next().unwrap_or("");
        let file = path.rsplit('/').next().unwrap_or("");
        let valid = [chart, version, file].iter().all(|s| safe_component(s))
            && file.ends_with(".tgz")
            && (absolute.starts_with("https://") || absolute.starts_with("http://"));
        if !valid {
            return None;
        }
        let repo = &self.doc.package;
        let rel = format!(
            "charts/{}/{}/{}",
            escape(chart),
            escape(version),
            escape(file)
        );
        let request_path = if repo == DEFAULT_REPO {
            rel.clone()
        } else {
            format!("{repo}/{rel}")
        };
        let name = format!("{repo}/{chart}");
        self.found.link(Link {
            name: name.clone(),
            version: version.to_string(),
            filename: file.to_string(),
            path: request_path.clone(),
            url: absolute.clone(),
            digest,
            flags: Flags {
                prerelease: version.contains('-'),
                ..Flags::default()
            },
        });
        // Its provenance file, beside it; without a version, so that a mirror does not ask for
        // it (most charts have none), but a request finds where it is.
        if !absolute.contains(['?', '#']) {
            self.found.link(Link {
                name,
                version: String::new(),
                filename: format!("{file}.prov"),
                path: format!("{request_path}.prov"),
                url: format!("{absolute}.prov"),
                digest: None,
                flags: Flags::default(),
            });
        }
        Some(format!("{}/{rel}", self.base))
    }
}

/// The key of a `key: value` (or `key:`) line, if it is one.
fn key_of(content: &str) -> Option<&str> {
    let (k, _) = content.split_once(':')?;
    let k = k.trim_end();
    (!k.is_empty() && !k.starts_with(['-', '[', '{']) && !content[k.len()..].starts_with(":/"))
        .then_some(k)
        .filter(|_| {
            let after = &content[content.find(':').unwrap_or(0) + 1..];
            after.is_empty() || after.starts_with([' ', '\t'])
        })
}

/// The value of a `key: value` line (empty for `key:`).
fn value_of(content: &str) -> Option<&str> {
    content.split_once(':').map(|(_, v)| v.trim())
}

/// A scalar as YAML spells it in one line: double-quoted (with escapes), single-quoted (`''`
/// for a quote) or plain (up to a ` #` comment). Block scalars are none.
fn scalar(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    '/' => out.push('/'),
                    e => out.push(e),
                },
                c => out.push(c),
            }
        }
        return None;
    }
    if let Some(rest) = s.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                return Some(out);
            }
            out.push(c);
        }
        return None;
    }
    if s.starts_with(['|', '>', '[', '{', '&', '*', '!']) {
        return None;
    }
    let plain = s.split(" #").next().unwrap_or("").trim();
    (!plain.is_empty()).then(|| plain.to_string())
}

/// The items of a one-line flow sequence (`[a, "b"]`).
fn flow_list(v: &str) -> Vec<String> {
    let inner = v
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .unwrap_or("");
    inner.split(',').filter_map(scalar).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[
        ("helm", "https://charts.example/root"),
        ("helm.stable", "https://stable.example/charts"),
    ];
    const D: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn show(path: &str) -> String {
        testing::show(testing::route(&Helm, path, None, UP), |m| {
            format!("meta {} {}", m.key, m.url)
        })
    }

    #[test]
    fn routes() {
        assert_eq!(
            show("/stable/index.yaml"),
            "meta stable/index.yaml https://stable.example/charts/index.yaml"
        );
        assert_eq!(
            show("/index.yaml"),
            "meta _default/index.yaml https://charts.example/root/index.yaml"
        );
        assert_eq!(
            show("/stable/charts/nginx/1.2.3/nginx-1.2.3.tgz"),
            "art stable/nginx@1.2.3 nginx-1.2.3.tgz "
        );
        assert_eq!(
            show("/charts/nginx/1.2.3/nginx-1.2.3.tgz.prov"),
            "art _default/nginx@1.2.3 nginx-1.2.3.tgz.prov "
        );
        for (path, status) in [
            ("/nope/index.yaml", 404),
            ("/stable/charts/nginx/1/x.zip", 404),
            ("/stable/other", 404),
        ] {
            let e = testing::route(&Helm, path, None, UP).err().unwrap();
            assert_eq!(e.status(), status, "{path}");
        }
        let none = testing::route(&Helm, "/index.yaml", None, &[("helm", "")]);
        assert!(none.err().unwrap().to_string().contains("upstream.helm"));
    }

    fn rewrite(path: &str, index: &str) -> (String, Vec<Link>) {
        let m = testing::metadata(&Helm, path, None, UP);
        let (out, found) = testing::rewrite(&Helm, &m, index.as_bytes(), UP).unwrap();
        (out, found.links)
    }

    #[test]
    fn index_urls_point_here_and_the_rest_is_kept() {
        let index = format!(
            r#"apiVersion: v1
entries:
  # a comment
  nginx:
  - annotations:
      category: Infrastructure
    apiVersion: v2
    appVersion: 1.10
    created: "2024-01-01T00:00:00Z"
    description: |
      A web server.
      urls: not a key here
    digest: {D}
    name: nginx
    urls:
    - nginx-1.2.3.tgz
    - https://mirror.example/other/nginx-1.2.3.tgz
    version: 1.2.3
  -   name: nginx
      version: "2.0.0-rc.1"
      digest: "sha256:{D}"
      urls: ['https://github.com/o/r/releases/download/nginx-2.0.0-rc.1/nginx-2.0.0-rc.1.tgz']
  redis:
    - name: redis
      urls:
        - "charts/redis-0.1.0.tgz"   # relative
      version: 0.1.0
generated: "2024-01-02T00:00:00Z"
"#
        );
        let (out, links) = rewrite("/stable/index.yaml", &index);
        let base = "http://proxy/helm/stable/charts";
        let expected = index
            .replace(
                "    - nginx-1.2.3.tgz\n",
                &format!("    - {base}/nginx/1.2.3/nginx-1.2.3.tgz\n"),
            )
            .replace(
                "    - https://mirror.example/other/nginx-1.2.3.tgz\n",
                &format!("    - {base}/nginx/1.2.3/nginx-1.2.3.tgz\n"),
            )
            .replace(
                "      urls: ['https://github.com/o/r/releases/download/nginx-2.0.0-rc.1/nginx-2.0.0-rc.1.tgz']\n",
                &format!("      urls: [{base}/nginx/2.0.0-rc.1/nginx-2.0.0-rc.1.tgz]\n"),
            )
            .replace(
                "        - \"charts/redis-0.1.0.tgz\"   # relative\n",
                &format!("        - {base}/redis/0.1.0/redis-0.1.0.tgz\n"),
            );
        assert_eq!(out, expected);
        let charts: Vec<String> = links
            .iter()
            .filter(|l| !l.version.is_empty())
            .map(|l| {
                format!(
                    "{} {} {} {} {} {}",
                    l.name,
                    l.version,
                    l.path,
                    l.url,
                    l.digest.is_some(),
                    l.flags.prerelease
                )
            })
            .collect();
        assert_eq!(
            charts,
            [
                "stable/nginx 1.2.3 stable/charts/nginx/1.2.3/nginx-1.2.3.tgz https://stable.example/charts/nginx-1.2.3.tgz true false",
                "stable/nginx 1.2.3 stable/charts/nginx/1.2.3/nginx-1.2.3.tgz https://mirror.example/other/nginx-1.2.3.tgz true false",
                "stable/nginx 2.0.0-rc.1 stable/charts/nginx/2.0.0-rc.1/nginx-2.0.0-rc.1.tgz https://github.com/o/r/releases/download/nginx-2.0.0-rc.1/nginx-2.0.0-rc.1.tgz true true",
                "stable/redis 0.1.0 stable/charts/redis/0.1.0/redis-0.1.0.tgz https://stable.example/charts/charts/redis-0.1.0.tgz false false",
            ]
        );
        // Provenance files: beside their chart, invisible to the mirror (no version).
        let prov: Vec<&str> = links
            .iter()
            .filter(|l| l.version.is_empty())
            .map(|l| l.url.as_str())
            .collect();
        assert_eq!(
            prov[0],
            "https://stable.example/charts/nginx-1.2.3.tgz.prov"
        );
        assert!(
            links
                .iter()
                .all(|l| l.version.is_empty() == l.filename.ends_with(".prov"))
        );
    }

    #[test]
    fn default_repository_and_odd_entries() {
        let index = "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n    urls:\n    - https://x.example/a-1.0.0.zip\n    - ../escape/a-1.0.0.tgz\n";
        let (out, links) = rewrite("/index.yaml", index);
        // Not a .tgz: left as it is, not reported.
        assert!(
            out.contains("    - https://x.example/a-1.0.0.zip\n"),
            "{out}"
        );
        assert!(
            out.contains("    - http://proxy/helm/charts/a/1.0.0/a-1.0.0.tgz\n"),
            "{out}"
        );
        assert_eq!(links[0].url, "https://charts.example/escape/a-1.0.0.tgz");
        assert_eq!(links[0].path, "charts/a/1.0.0/a-1.0.0.tgz");
        assert_eq!(links[0].name, "_default/a");
        // An entry past the bound is an error, not a truncated index.
        let huge = format!(
            "entries:\n  a:\n  - name: a\n    description: |\n{}",
            "      x\n".repeat(MAX_ENTRY / 8 + 1)
        );
        let m = testing::metadata(&Helm, "/index.yaml", None, UP);
        assert!(testing::rewrite(&Helm, &m, huge.as_bytes(), UP).is_err());
        let flow = "entries: {a: []}\n";
        assert!(testing::rewrite(&Helm, &m, flow.as_bytes(), UP).is_err());
    }

    /// An endless line (here 64 MiB of one, counted as it is read) is refused at `MAX_LINE`,
    /// having read little more than that.
    #[test]
    fn an_endless_line_is_refused_at_the_bound() {
        struct Endless {
            left: usize,
            read: std::rc::Rc<std::cell::Cell<usize>>,
        }
        impl std::io::Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.left);
                buf[..n].fill(b'x');
                self.left -= n;
                self.read.set(self.read.get() + n);
                Ok(n)
            }
        }
        let m = testing::metadata(&Helm, "/index.yaml", None, UP);
        let up = testing::upstream_map(&Helm, UP);
        for head in ["", "apiVersion: v1\nentries:\n  a:\n  - name: "] {
            let read = std::rc::Rc::new(std::cell::Cell::new(0));
            let endless = Endless {
                left: 64 << 20,
                read: read.clone(),
            };
            let mut input = std::io::BufReader::new(head.as_bytes().chain(endless));
            let mut found = crate::registry::Collected::default();
            let err = Helm
                .rewrite(
                    &m,
                    &mut input,
                    &mut std::io::sink(),
                    &testing::ctx(&up),
                    &mut found,
                )
                .expect_err("an endless line is an error");
            assert!(err.0.contains("a line longer than"), "{}", err.0);
            assert!(read.get() <= MAX_LINE + (64 << 10), "read {}", read.get());
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(scalar("plain # c").as_deref(), Some("plain"));
        assert_eq!(scalar(r#""a\"b""#).as_deref(), Some("a\"b"));
        assert_eq!(scalar("'it''s'").as_deref(), Some("it's"));
        assert_eq!(scalar("|"), None);
        assert_eq!(scalar(""), None);
        assert_eq!(key_of("urls:"), Some("urls"));
        assert_eq!(key_of("name: x"), Some("name"));
        assert_eq!(key_of("https://x"), None);
        assert_eq!(key_of("- a: b"), None);
        assert_eq!(flow_list("[a, 'b', \"c\"]"), ["a", "b", "c"]);
    }

    #[test]
    fn mirror_reads_the_repository_index() {
        let m = Helm
            .mirror("stable/nginx", &Want::Exact("1.2.3".into()))
            .unwrap();
        assert_eq!(m.package, "stable/nginx");
        assert_eq!(m.docs, [("stable/index.yaml".to_string(), None)]);
        let m = Helm.mirror("nginx", &Want::Latest).unwrap();
        assert_eq!(m.package, "_default/nginx");
        assert_eq!(m.docs, [("index.yaml".to_string(), None)]);
    }
}
