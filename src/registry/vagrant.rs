//! Vagrant boxes: box catalogs (Vagrant Cloud's, or any server of catalog JSON) as `vagrant box
//! add` reads them. Clients set `VAGRANT_SERVER_URL={base_url}/vagrant` and name boxes `org/box`.
//!
//! URL grammar under `/vagrant`:
//! - `/{org}/{box}`: the box's catalog (`{"name", "versions": [{"version", "providers": [{"name",
//!   "url", "checksum_type", "checksum", "architecture"}]}]}`), asked for with `Accept:
//!   application/json`, mutable. Vagrant first sends a HEAD and takes the URL for a catalog only
//!   if the answer's `Content-Type` says `application/json`: the upstream's type is kept (every
//!   catalog server Vagrant reads says so), and our own errors are JSON too.
//! - `/api/v2/vagrant/{org}/{box}`: the same through Vagrant Cloud's API path, which Vagrant 2.4
//!   tries first (it adds each provider's architecture); a document of its own, fetched from the
//!   same path upstream.
//! - `/{org}/{box}/{version}/{provider}/{architecture}/vagrant.box`: a box file, immutable,
//!   keyed (vagrant, `{org}/{box}`, version, `{provider}-{architecture}-{version}.box`: links are
//!   looked up by package and file name, so the name carries the version). Every provider
//!   `url` of a catalog is rewritten to this path (the architecture `unknown` where the catalog
//!   gives none), and the upstream URL it replaced is where the box is fetched from, following
//!   redirects to object storage here (allowed origins: `upstream.vagrant` and
//!   `upstream.vagrant_boxes`); a box asked for before its catalog has the catalog read first.
//!   It is verified against the catalog's `checksum` in its
//!   `checksum_type` (md5, sha1, sha256, sha384, sha512) where there is one, and otherwise the
//!   first copy's SHA-256 is pinned. Boxes are large: ranges (`curl -C -`, Vagrant's resume)
//!   and HEAD are answered from the cache.
//!
//! For `proxy mirror`, a name may add a provider and an architecture, `org/box/libvirt` or
//! `org/box/libvirt/amd64`: only those files of the version are fetched.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Check, Ctx, Digest, Etag, Expiry, Flags, Found, Kind, Link,
    Metadata, Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, check_semver,
    safe_component, semver_like,
};
use crate::error::{Error, Result};
use crate::json::{self, Seg};
use crate::url::escape;

pub(crate) struct Vagrant;

const ECOSYSTEM: &str = "vagrant";
const JSON: &str = "application/json";
/// The file name of every box in the proxy's paths (Vagrant Cloud's own).
const BOX_FILE: &str = "vagrant.box";
/// The architecture of a provider whose catalog entry gives none (Vagrant's own word for it).
const UNKNOWN_ARCH: &str = "unknown";

const CATALOG: Kind = Kind("catalog");

static SPEC: Spec = Spec {
    name: ECOSYSTEM,
    upstreams: &[
        UpstreamKey::one("vagrant", "https://vagrantcloud.com"),
        UpstreamKey::list(
            "vagrant_boxes",
            "https://app.vagrantup.com,https://vagrantcloud-files-production.s3-accelerate.amazonaws.com",
        ),
    ],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

impl Registry for Vagrant {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("vagrant");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let catalog_plan = |org: &str, name: &str, api: bool| -> Result<Plan> {
            check_name(org)?;
            check_name(name)?;
            Ok(Plan::Metadata(catalog(up, org, name, api)))
        };
        match segs.as_slice() {
            [org, name] => catalog_plan(org, name, false),
            ["api", "v2", "vagrant", org, name] => catalog_plan(org, name, true),
            [org, name, version, provider, arch, BOX_FILE] => {
                check_name(org)?;
                check_name(name)?;
                check_semver(version, "box")?;
                checked("provider", provider, valid_word(provider))?;
                checked("architecture", arch, valid_word(arch))?;
                let key = ArtifactKey {
                    ecosystem: ECOSYSTEM,
                    name: format!("{org}/{name}"),
                    version: version.to_string(),
                    filename: box_name(provider, arch, version),
                };
                // Where a box lives only its catalog says (hosted boxes redirect to storage,
                // others are anywhere): asked for before it, the catalog is read first.
                let mut a = Artifact::new(key, String::new(), "application/octet-stream")
                    .listed_in(catalog(up, org, name, false));
                a.pin = true;
                Ok(Plan::Artifact(a))
            }
            _ => Err(Error::NotFound(format!(
                "vagrant route /{} (box catalogs are /vagrant/{{org}}/{{box}})",
                segs.join("/")
            ))),
        }
    }

    /// Points every provider's `url` here and reports it, with its checksum; everything else is
    /// kept byte for byte. The catalog is read twice (a provider's `url` may come before its
    /// `name`, `architecture` or its version's `version`), so it is held in memory: catalogs
    /// are a few kilobytes, and `metadata_max_size` bounds them.
    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        let mut seen = Collect::default();
        json::rewrite(&mut bytes.as_slice(), &mut std::io::sink(), &mut seen)?;
        let mut targets = BTreeMap::new();
        for ((v, p), entry) in &seen.providers {
            let (Some(version), Some(provider), Some(url)) = (
                seen.versions.get(v),
                entry.name.as_deref(),
                entry.url.as_deref(),
            ) else {
                continue;
            };
            let arch = entry.arch.as_deref().unwrap_or(UNKNOWN_ARCH);
            if !semver_like(version) || !valid_word(provider) || !valid_word(arch) {
                continue;
            }
            let path = format!(
                "{}/{}/{}/{}/{BOX_FILE}",
                doc.package,
                escape(version),
                escape(provider),
                escape(arch)
            );
            targets.insert((*v, *p), format!("{}/vagrant/{path}", ctx.base_url));
            found.link(Link {
                name: doc.package.clone(),
                version: version.clone(),
                filename: box_name(provider, arch, version),
                path,
                url: url.to_string(),
                digest: entry.digest(),
                flags: Flags::default(),
            });
        }
        let mut point = json::Replace {
            wants: |path: &[Seg]| matches!(locate(path), Some((_, Some((_, "url"))))),
            string: |path: &[Seg], _: &str| match locate(path)? {
                (v, Some((p, _))) => targets.get(&(v, p)).cloned(),
                _ => None,
            },
        };
        json::rewrite(&mut bytes.as_slice(), out, &mut point)?;
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let parts: Vec<&str> = name.split('/').collect();
        let (org, bx, provider, arch) = match parts.as_slice() {
            [org, bx] => (*org, *bx, None, None),
            [org, bx, p] => (*org, *bx, Some(p.to_string()), None),
            [org, bx, p, a] => (*org, *bx, Some(p.to_string()), Some(a.to_string())),
            _ => {
                return Err(Error::BadRequest(format!(
                    "vagrant box {name:?}: expected org/box[/provider[/architecture]]"
                )));
            }
        };
        check_name(org)?;
        check_name(bx)?;
        for w in provider.iter().chain(&arch) {
            checked("provider or architecture", w, valid_word(w))?;
        }
        let mut m = Mirror::docs(
            format!("{org}/{bx}"),
            vec![(format!("{org}/{bx}"), Some(JSON))],
            want,
        );
        if let Some(provider) = provider {
            m.keep = Some(Box::new(move |file: &str| {
                let mut parts = file.splitn(3, '-');
                let (p, a) = (parts.next(), parts.next());
                p == Some(provider.as_str()) && arch.as_deref().is_none_or(|want| a == Some(want))
            }));
        }
        Ok(m)
    }

    /// A box is `org/box`; a mirror name's provider and architecture are not part of it.
    fn canonical_name(&self, name: &str) -> String {
        name.splitn(3, '/').take(2).collect::<Vec<_>>().join("/")
    }
}

/// The catalog of `org/name`, at the path Vagrant expands a name to (`api`: Vagrant Cloud's API
/// path, which Vagrant 2.4 tries first).
fn catalog(up: &str, org: &str, name: &str, api: bool) -> Metadata {
    let path = format!("{}/{}", escape(org), escape(name));
    let (key, url) = match api {
        true => (
            format!("api|{org}/{name}"),
            format!("{up}/api/v2/vagrant/{path}"),
        ),
        false => (format!("{org}/{name}"), format!("{up}/{path}")),
    };
    Metadata {
        ecosystem: ECOSYSTEM,
        kind: CATALOG,
        key,
        url,
        accept: Some(JSON),
        package: format!("{org}/{name}"),
        content_type: JSON,
        etag: Etag::Own,
        check: Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
    }
}

/// `{provider}-{architecture}-{version}.box`, a box's file name in the cache (providers and
/// architectures have no `-`).
fn box_name(provider: &str, arch: &str, version: &str) -> String {
    format!("{provider}-{arch}-{version}.box")
}

/// Org and box names: letters, digits, `-`, `_` and `.`.
fn check_name(name: &str) -> Result<()> {
    let ok = safe_component(name)
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    checked("box name", name, ok)
}

/// Provider and architecture names: lowercase letters, digits and `_` (no `-`: it separates
/// them in a box's file name).
fn valid_word(w: &str) -> bool {
    !w.is_empty()
        && w.len() <= 64
        && w.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `Ok` if `ok`, else the 400 for an invalid `what`.
fn checked(what: &str, value: &str, ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("invalid {what} {value:?}")))
    }
}

/// A provider object: `versions[v].providers[p]`.
type At = (usize, usize);

fn locate(path: &[Seg]) -> Option<(usize, Option<(usize, &str)>)> {
    match path {
        [Seg::Key(vs), Seg::Index(v), Seg::Key(f)] if vs == "versions" && f == "version" => {
            Some((*v, None))
        }
        [
            Seg::Key(vs),
            Seg::Index(v),
            Seg::Key(ps),
            Seg::Index(p),
            Seg::Key(f),
        ] if vs == "versions" && ps == "providers" => Some((*v, Some((*p, f.as_str())))),
        _ => None,
    }
}

#[derive(Default)]
struct Provider {
    name: Option<String>,
    arch: Option<String>,
    url: Option<String>,
    checksum_type: Option<String>,
    checksum: Option<String>,
}

impl Provider {
    /// The checksum, if the catalog gives one we can check (a known type, the right length).
    fn digest(&self) -> Option<Digest> {
        let algo = Algo::parse(&self.checksum_type.as_deref()?.to_ascii_lowercase())?;
        let hex = self.checksum.as_deref()?.trim();
        (hex.len() == algo.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
            Digest {
                algo,
                hex: hex.to_ascii_lowercase(),
            }
        })
    }
}

/// First pass: each version's `version` and each provider's fields.
#[derive(Default)]
struct Collect {
    versions: BTreeMap<usize, String>,
    providers: BTreeMap<At, Provider>,
}

impl json::Visitor for Collect {
    fn wants(&self, path: &[Seg]) -> bool {
        locate(path).is_some()
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        let (v, provider) = locate(path)?;
        let Some((p, field)) = provider else {
            self.versions.insert(v, value.to_string());
            return None;
        };
        let e = self.providers.entry((v, p)).or_default();
        let value = Some(value.to_string());
        match field {
            "name" => e.name = value,
            "architecture" => e.arch = value,
            "checksum_type" => e.checksum_type = value,
            "checksum" => e.checksum = value,
            // Only web URLs are fetched; a `file://` box is the client's own business.
            "url" if value.as_deref().and_then(crate::url::origin).is_some() => e.url = value,
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[("vagrant", "https://cloud.example")];

    fn show(path: &str) -> String {
        testing::show(testing::route(&Vagrant, path, Some(JSON), UP), |m| {
            format!("meta {} {} {:?}", m.key, m.url, m.accept)
        })
    }

    #[test]
    fn routes() {
        assert_eq!(
            show("/hashicorp/bionic64"),
            "meta hashicorp/bionic64 https://cloud.example/hashicorp/bionic64 Some(\"application/json\")"
        );
        assert_eq!(
            show("/api/v2/vagrant/hashicorp/bionic64"),
            "meta api|hashicorp/bionic64 https://cloud.example/api/v2/vagrant/hashicorp/bionic64 Some(\"application/json\")"
        );
        assert_eq!(
            show("/bento/ubuntu-22.04/202401.31.0/virtualbox/amd64/vagrant.box"),
            "art bento/ubuntu-22.04@202401.31.0 virtualbox-amd64-202401.31.0.box "
        );
        for bad in [
            "/",
            "/a",
            "/a/b/c",
            "/a/../b",
            "/a/b/1.0/virtual-box/amd64/vagrant.box",
            "/a/b/1.0/virtualbox/AMD64/vagrant.box",
            "/a/b/1.0/virtualbox/amd64/other.box",
            "/a%20b/c",
        ] {
            assert!(testing::route(&Vagrant, bad, None, UP).is_err(), "{bad}");
        }
        let Ok(Plan::Artifact(a)) =
            testing::route(&Vagrant, "/a/b/1.0/libvirt/unknown/vagrant.box", None, UP)
        else {
            panic!("a box");
        };
        assert!(a.pin && a.url.is_empty() && a.sidecars.is_empty());
    }

    #[test]
    fn provider_urls_point_here_with_their_checksums() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha = "ab".repeat(32);
        let doc = format!(
            r#"{{"name":"org/b","description":"a box","versions":[
{{"providers":[{{"url":"https://cloud.example/org/boxes/b/versions/1.0.0/providers/libvirt/amd64/vagrant.box","name":"libvirt","architecture":"amd64","checksum_type":"SHA256","checksum":"{sha}","default_architecture":true}},
 {{"name":"virtualbox","url":"https://files.example/b.box","checksum_type":"md5","checksum":"{md5}"}},
 {{"name":"docker","url":"file:///tmp/x.box"}},
 {{"name":"bad-name","url":"https://files.example/x.box"}}],"version":"1.0.0","status":"active"}},
{{"version":"2.0.0","providers":[{{"name":"libvirt","url":"https://files.example/2.box","checksum_type":"crc32","checksum":"1234"}}]}}]}}"#
        );
        let meta = testing::metadata(&Vagrant, "/org/b", Some(JSON), UP);
        let (out, found) = testing::rewrite(&Vagrant, &meta, doc.as_bytes(), UP).unwrap();
        let base = "http://proxy/vagrant/org/b";
        let expected = doc
            .replace(
                "https://cloud.example/org/boxes/b/versions/1.0.0/providers/libvirt/amd64/vagrant.box",
                &format!("{base}/1.0.0/libvirt/amd64/vagrant.box"),
            )
            .replace(
                "https://files.example/b.box",
                &format!("{base}/1.0.0/virtualbox/unknown/vagrant.box"),
            )
            .replace(
                "https://files.example/2.box",
                &format!("{base}/2.0.0/libvirt/unknown/vagrant.box"),
            );
        assert_eq!(out, expected, "only the URLs change");
        let links: Vec<(String, String, String, Option<Digest>)> = found
            .links
            .into_iter()
            .map(|l| (l.version, l.filename, l.url, l.digest))
            .collect();
        assert_eq!(
            links,
            [
                (
                    "1.0.0".into(),
                    "libvirt-amd64-1.0.0.box".into(),
                    "https://cloud.example/org/boxes/b/versions/1.0.0/providers/libvirt/amd64/vagrant.box".into(),
                    Some(Digest { algo: Algo::Sha256, hex: sha.clone() })
                ),
                (
                    "1.0.0".into(),
                    "virtualbox-unknown-1.0.0.box".into(),
                    "https://files.example/b.box".into(),
                    Some(Digest { algo: Algo::Md5, hex: md5.into() })
                ),
                (
                    "2.0.0".into(),
                    "libvirt-unknown-2.0.0.box".into(),
                    "https://files.example/2.box".into(),
                    None
                ),
            ]
        );
        for junk in [
            "",
            "[",
            "{\"versions\":[{\"providers\":[{\"url\":1}]}]}",
            "null",
        ] {
            let got = testing::rewrite(&Vagrant, &meta, junk.as_bytes(), UP);
            if let Ok((out, found)) = got {
                assert_eq!(out, junk);
                assert!(found.links.is_empty());
            }
        }
    }

    #[test]
    fn mirror_names_may_choose_a_provider() {
        let m = Vagrant
            .mirror("org/b/libvirt/amd64", &Want::Exact("1.0.0".into()))
            .unwrap();
        assert_eq!(m.package, "org/b");
        assert_eq!(m.docs, [("org/b".to_string(), Some(JSON))]);
        let keep = m.keep.unwrap();
        assert!(keep("libvirt-amd64-1.0.0.box"));
        assert!(!keep("libvirt-arm64-1.0.0.box") && !keep("virtualbox-amd64-1.0.0.box"));
        assert!(
            Vagrant
                .mirror("org/b", &Want::Latest)
                .unwrap()
                .keep
                .is_none()
        );
        assert!(Vagrant.mirror("org", &Want::Latest).is_err());
        assert!(Vagrant.mirror("org/b/Libvirt", &Want::Latest).is_err());
        assert_eq!(Vagrant.canonical_name("org/b/libvirt/amd64"), "org/b");
        assert_eq!(Vagrant.canonical_name("org/b"), "org/b");
    }
}
