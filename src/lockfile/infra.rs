//! Inputs of infrastructure tooling, read line by line: lists of generic files (`/raw/…` URLs of
//! this proxy), Vagrant's `Vagrantfile` and lists of boxes, Chef's `Berksfile.lock`. A line that
//! cannot be read is one problem, and the next line is read as if it were not there.

use super::Out;
use crate::registry::{safe_component, valid_upstream_name};
use crate::url::percent_decode;

// ---------------------------------------------------------------------------------------------
// Generic files: a list of URLs

/// Whether every line that says anything is a URL (or path) of a generic file on this proxy.
pub(super) fn is_raw_list(text: &str) -> bool {
    let mut lines = meaningful(text).peekable();
    lines.peek().is_some() && lines.all(|(_, l)| l.contains("/raw/"))
}

/// One file per line, as clients fetch it through this proxy: `http://proxy:8080/raw/{remote}/
/// {path}` or `/raw/{remote}/{path}` (any base path before `/raw/`; a query is dropped). Each
/// becomes the item `{remote}/{directories}` with the file name as its version, as
/// `pkg:generic/{remote}/{path}` does.
pub(super) fn raw_list(text: &str, out: &mut Out) {
    for (line, l) in meaningful(text) {
        let path = match l.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
            None => l,
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        let Some((_, under)) = path.split_once("/raw/") else {
            out.problem(line, format!("not a /raw/{{remote}}/{{path}} URL: {l:?}"));
            continue;
        };
        match raw_parts(under) {
            Ok((name, file)) => out.add(line, "raw", &name, Some(&file), Vec::new()),
            Err(msg) => out.problem(line, format!("{l:?}: {msg}")),
        }
    }
}

/// `{remote}/{path}` (percent-encoded, as in a URL) → (`{remote}/{directories}`, file name).
fn raw_parts(under: &str) -> Result<(String, String), String> {
    let segs = under
        .trim_end_matches('/')
        .split('/')
        .map(|s| percent_decode(s).ok_or_else(|| format!("bad %-escape in {s:?}")))
        .collect::<Result<Vec<String>, String>>()?;
    let [remote, .., _] = segs.as_slice() else {
        return Err("a remote and a file path under it are needed".into());
    };
    if !valid_upstream_name(remote) {
        return Err(format!("{remote:?} is not a remote name"));
    }
    if let Some(bad) = segs.iter().find(|s| !safe_component(s)) {
        return Err(format!("invalid path segment {bad:?}"));
    }
    let (file, dirs) = segs.split_last().expect("two segments at least");
    Ok((dirs.join("/"), file.clone()))
}

// ---------------------------------------------------------------------------------------------
// Vagrant: Vagrantfile, lists of boxes

/// `config.vm.box = "org/box"` (any machine's variable, `web.vm.box`), with the
/// `…vm.box_version` of the same variable when it names one version (`"1.2.3"` or `"= 1.2.3"`;
/// a range leaves the latest). A box that is not `org/box` (a local name, a URL) comes from no
/// catalog and is skipped.
pub(super) fn vagrantfile(text: &str, out: &mut Out) {
    // (line, variable, box) and (variable, version), in file order.
    let mut boxes: Vec<(usize, String, String)> = Vec::new();
    let mut versions: Vec<(usize, String, String)> = Vec::new();
    for (n, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.starts_with('#') {
            continue;
        }
        for (setting, into) in [(".vm.box", &mut boxes), (".vm.box_version", &mut versions)] {
            let Some((var, value)) = ruby_assignment(l, setting) else {
                continue;
            };
            into.push((n + 1, var.to_string(), value.to_string()));
        }
    }
    for (line, var, name) in &boxes {
        if !is_box_name(name) {
            continue;
        }
        // The version set for this variable nearest the box line, before or after it.
        let version = versions
            .iter()
            .filter(|(_, v, _)| v == var)
            .min_by_key(|(l, _, _)| l.abs_diff(*line))
            .map(|(_, _, v)| v.trim_start_matches('=').trim());
        let exact = version.filter(|v| {
            v.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        });
        out.add(*line, "vagrant", name, exact, Vec::new());
    }
}

/// `{var}{setting} = "value"` (or `'value'`) on a line: (`var`, `value`).
fn ruby_assignment<'a>(line: &'a str, setting: &str) -> Option<(&'a str, &'a str)> {
    let at = line.find(setting)?;
    let var = &line[..at];
    let rest = line[at + setting.len()..].trim_start();
    // `.vm.box` is also the start of `.vm.box_version` and `.vm.box_url`.
    let rest = rest.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = rest[1..].split(quote).next()?;
    let plain_var = !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain_var.then_some((var, value))
}

/// `org/box`, as catalogs name boxes.
fn is_box_name(name: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s != "."
            && s != ".."
    };
    name.split_once('/')
        .is_some_and(|(org, b)| ok(org) && ok(b))
}

/// Whether every line that says anything is `org/box`, optionally with a version.
pub(super) fn is_box_list(text: &str) -> bool {
    let mut lines = meaningful(text).peekable();
    lines.peek().is_some() && lines.all(|(_, l)| box_line(l).is_some())
}

/// `org/box`, then optionally a version (`1.2.3`, or `org/box@1.2.3`; `latest` for none) and a
/// provider with an optional architecture (`libvirt`, `virtualbox/amd64`), per line. A provider
/// makes the item `org/box/{provider}[/{architecture}]`: only its files are mirrored.
pub(super) fn box_list(text: &str, out: &mut Out) {
    for (line, l) in meaningful(text) {
        match box_line(l) {
            Some((name, version)) => out.add(line, "vagrant", &name, version, Vec::new()),
            None => out.problem(
                line,
                format!("expected `org/box [version] [provider[/architecture]]`, found {l:?}"),
            ),
        }
    }
}

fn box_line(l: &str) -> Option<(String, Option<&str>)> {
    let mut words = l.split_whitespace();
    let first = words.next()?;
    let (name, mut version) = match first.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (first, None),
    };
    let mut provider = None;
    for w in words {
        if version.is_none() && (w == "latest" || w.starts_with(|c: char| c.is_ascii_digit())) {
            version = Some(w);
        } else if provider.is_none()
            && w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.split('/').count() <= 2
            && w.split('/').all(is_word)
        {
            provider = Some(w);
        } else {
            return None;
        }
    }
    let version = version.filter(|v| *v != "latest");
    if !is_box_name(name) || version.is_some_and(|v| !v.starts_with(|c: char| c.is_ascii_digit())) {
        return None;
    }
    let name = match provider {
        Some(p) => format!("{name}/{p}"),
        None => name.to_string(),
    };
    Some((name, version))
}

/// A provider or architecture name: lowercase letters, digits and `_`.
fn is_word(w: &str) -> bool {
    !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

// ---------------------------------------------------------------------------------------------
// Chef: Berksfile.lock

/// Every cookbook of the `GRAPH` section at its locked version, except those `DEPENDENCIES`
/// gives a `path:`, `git:` or `github:` source (local and VCS cookbooks no Supermarket holds).
pub(super) fn berksfile_lock(text: &str, out: &mut Out) {
    let mut section = "";
    let mut local: Vec<&str> = Vec::new();
    let mut last_dep: Option<&str> = None;
    let mut graph: Vec<(usize, &str, &str)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        let l = raw.trim();
        if indent == 0 {
            section = l;
            continue;
        }
        match (section, indent) {
            ("DEPENDENCIES", 2) => last_dep = l.split_whitespace().next(),
            ("DEPENDENCIES", _) => {
                let key = l.split(':').next().unwrap_or("");
                if let (Some(dep), "path" | "git" | "github") = (last_dep, key) {
                    local.push(dep);
                }
            }
            ("GRAPH", 2) => match l.split_once(" (") {
                Some((name, v)) if v.ends_with(')') => {
                    graph.push((line, name, &v[..v.len() - 1]));
                }
                _ => out.problem(line, format!("expected `name (version)`, found {l:?}")),
            },
            _ => {}
        }
    }
    for (line, name, version) in graph {
        if !local.contains(&name) {
            out.add(line, "chef", name, Some(version), Vec::new());
        }
    }
}

/// Lines with something on them, trimmed, with their numbers; `#` comments are skipped.
fn meaningful(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn fixtures() {
        check_fixture(
            "chef/Berksfile.lock",
            &[
                "chef:apt@7.4.0",
                "chef:build-essential@8.2.1",
                "chef:seven_zip@4.2.2",
                "chef:windows@8.0.0",
            ],
            &[12, 13, 16, 21],
        );
        check_fixture(
            "vagrant/Vagrantfile",
            &[
                "vagrant:bento/ubuntu-22.04@202401.31.0",
                "vagrant:generic/alpine319@*",
                "vagrant:hashicorp/bionic64@1.0.282",
            ],
            &[5, 9, 17],
        );
        check_fixture(
            "vagrant/lab.boxes",
            &[
                "vagrant:bento/ubuntu-22.04/virtualbox@202401.31.0",
                "vagrant:generic/alpine319/libvirt/amd64@4.3.12",
                "vagrant:hashicorp/bionic64@1.0.282",
                "vagrant:bento/debian-12@*",
            ],
            &[2, 3, 4, 5],
        );
        check_fixture(
            "raw/downloads.txt",
            &[
                "raw:go@go1.22.0.linux-amd64.tar.gz",
                "raw:go@go1.22.0.linux-amd64.tar.gz.sha256",
                "raw:nodejs/v20.11.0@node-v20.11.0-linux-x64.tar.xz",
                "raw:gh/cli/cli/releases/download/v2.40.0@gh_2.40.0_linux_amd64.tar.gz",
            ],
            &[2, 3, 4, 5],
        );
    }

    #[test]
    fn raw_lists() {
        let text = text_of(&[
            "# tools for the build image",
            "http://proxy.example:8080/raw/tools/go/go1.22.0.linux-amd64.tar.gz",
            "",
            "/raw/tools/node/v20.11.0/node%2Bv20.tar.xz?x=1",
            "https://h.example/base/raw/gh/o/r/releases/download/v1/a.zip",
            "/raw/tools/",
            "/raw/Bad/x",
            "/raw/tools/a/%2e%2e/x",
            "/raw/tools/go/go1.22.0.linux-amd64.tar.gz",
            "/raw/tools/el9/x86_64/tool-1.0-1.x86_64.rpm",
        ]);
        check(
            "downloads.txt",
            &text,
            &[
                "raw:tools/go@go1.22.0.linux-amd64.tar.gz",
                "raw:tools/node/v20.11.0@node+v20.tar.xz",
                "raw:gh/o/r/releases/download/v1@a.zip",
                "raw:tools/el9/x86_64@tool-1.0-1.x86_64.rpm",
            ],
            &[6, 7, 8],
        );
        // Any other line makes it something else (here a requirements file).
        let (items, _) = super::super::parse_file(
            std::path::Path::new("mixed.txt"),
            "/raw/tools/a.bin\nrequests==2.0\n",
        );
        assert!(items.iter().all(|i| i.ecosystem != "raw"));
    }

    #[test]
    fn vagrantfiles() {
        let text = text_of(&[
            "Vagrant.configure(\"2\") do |config|",
            "  config.vm.box = \"hashicorp/bionic64\"",
            "  config.vm.box_version = \"1.0.282\"",
            "  # config.vm.box = \"commented/out\"",
            "  config.vm.define \"web\" do |web|",
            "    web.vm.box_version = '>= 2.0'",
            "    web.vm.box = 'bento/ubuntu-22.04'",
            "    web.vm.box_url = \"https://example.com/x.box\"",
            "  end",
            "  config.vm.define \"db\" do |db|",
            "    db.vm.box = \"localbox\"",
            "    db.vm.box_check_update = false",
            "  end",
            "  config.vm.define \"pinned\" do |p|",
            "    p.vm.box = \"generic/alpine319\"",
            "    p.vm.box_version = \"= 4.3.12\"",
            "  end",
            "end",
        ]);
        check(
            "Vagrantfile",
            &text,
            &[
                "vagrant:hashicorp/bionic64@1.0.282",
                "vagrant:bento/ubuntu-22.04@*",
                "vagrant:generic/alpine319@4.3.12",
            ],
            &[],
        );
    }

    #[test]
    fn box_lists() {
        let text = text_of(&[
            "# boxes for the lab",
            "hashicorp/bionic64 1.0.282",
            "generic/alpine319@4.3.12 libvirt",
            "bento/ubuntu-22.04",
            "bento/debian-12 latest virtualbox/arm64",
        ]);
        check(
            "lab.boxes",
            &text,
            &[
                "vagrant:hashicorp/bionic64@1.0.282",
                "vagrant:generic/alpine319/libvirt@4.3.12",
                "vagrant:bento/ubuntu-22.04@*",
                "vagrant:bento/debian-12/virtualbox/arm64@*",
            ],
            &[],
        );
        // Named as a box list, bad lines are problems.
        check(
            "lab.boxes",
            "a/b\nnot a box line\n../x 1\na/b 1.0 Libvirt\na/b 1 2\na/b@x\n",
            &["vagrant:a/b@*"],
            &[2, 3, 4, 5, 6],
        );
    }

    #[test]
    fn berksfile_locks() {
        let text = text_of(&[
            "DEPENDENCIES",
            "  apt (~> 7.0)",
            "  mycookbook",
            "    path: .",
            "    metadata: true",
            "  fork",
            "    git: https://git.example/fork.git",
            "    revision: 0123abcd",
            "  nginx",
            "",
            "GRAPH",
            "  apt (7.4.0)",
            "    compat_resource (>= 0.0.0)",
            "  compat_resource (12.19.1)",
            "  fork (1.0.0)",
            "  mycookbook (0.1.0)",
            "    apt (>= 0.0.0)",
            "  nginx (12.2.0)",
            "  broken",
        ]);
        check(
            "Berksfile.lock",
            &text,
            &[
                "chef:apt@7.4.0",
                "chef:compat_resource@12.19.1",
                "chef:nginx@12.2.0",
            ],
            &[19],
        );
    }
}
