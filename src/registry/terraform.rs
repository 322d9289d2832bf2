//! Terraform providers: the provider network mirror protocol (what `provider_installation {
//! network_mirror { … } }` speaks), built from the provider registry protocol of the upstream
//! registries, and that registry protocol itself for clients that cannot set a mirror
//! (hashicorp/terraform `internal/getproviders`: `http_mirror_source.go`,
//! `registry_client.go`).
//!
//! An upstream is a registry's `providers.v1` URL (what its `/.well-known/terraform.json` names):
//! `upstream.terraform` (registry.terraform.io's) and `upstream.terraform.{name}` for others
//! (registry.opentofu.org, a private registry). A provider's hostname picks the upstream whose URL
//! has that host.
//!
//! URL grammar under `/terraform`:
//! - `/{hostname}/{namespace}/{type}/index.json`: the mirror's version list, written here from
//!   the registry's `{ns}/{type}/versions` (`{"versions": {"1.0.0": {}}}`), mutable.
//! - `/{hostname}/{namespace}/{type}/{version}.json`: the mirror's archives of a version, written
//!   here from the registry's download document of each platform the version lists, each
//!   archive's `shasum` checked against the version's `SHA256SUMS` (a disagreement fails the
//!   document). Each archive's `url` is relative (`{version}/{file}`, as `terraform providers
//!   mirror` writes them) and its `hashes` is `["zh:{shasum}"]`.
//! - `/{hostname}/{namespace}/{type}/{version}/{file}`: a provider zip (verified against its
//!   `shasum`), or a version's `SHA256SUMS` and its signature, immutable, fetched from where the
//!   documents above said (HashiCorp's releases, GitHub release assets: `upstream.
//!   terraform_downloads`). A zip asked for first has its version's archives document built
//!   before it is fetched.
//! - `/.well-known/terraform.json`: service discovery for the registry protocol,
//!   `{"providers.v1": "{base_url}/terraform/v1/providers/"}` (Terraform asks it at the host's
//!   root: the TLS front maps `/.well-known/terraform.json` here, see docs/operations.md).
//! - `/v1/providers/{namespace}/{type}/versions`: the default registry's list, byte for byte.
//! - `/v1/providers/{namespace}/{type}/{version}/download/{os}/{arch}`: its download document with
//!   `download_url`, `shasums_url` and `shasums_signature_url` pointed at the files above; the
//!   signing keys pass unchanged, so Terraform still checks the signature itself.

use std::io::{BufRead, Write};

use serde_json::Value;

use super::{
    Algo, Artifact, ArtifactKey, Assembly, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Kind,
    Link, Metadata, Mirror, Part, Plan, Registry, Request, Spec, UpstreamKey, Want, check_semver,
    safe_component, semver_like,
};
use crate::error::{Error, Result};
use crate::json::{self, Seg};
use crate::url::{escape, join};

pub(crate) struct Terraform;

const ECOSYSTEM: &str = "terraform";
const JSON: &str = "application/json";

const INDEX: Kind = Kind("index");
const ARCHIVES: Kind = Kind("archives");
const VERSIONS: Kind = Kind("versions");
const DOWNLOAD: Kind = Kind("download");

static SPEC: Spec = Spec {
    name: ECOSYSTEM,
    upstreams: &[
        UpstreamKey::named("terraform", "https://registry.terraform.io/v1/providers"),
        UpstreamKey::list(
            "terraform_downloads",
            "https://releases.hashicorp.com,https://github.com,https://objects.githubusercontent.com,https://release-assets.githubusercontent.com",
        ),
    ],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

impl Registry for Terraform {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            [".well-known", "terraform.json"] => {
                let body = serde_json::json!({
                    "providers.v1": format!("{}/{ECOSYSTEM}/v1/providers/", ctx.base_url)
                });
                Ok(Plan::generated(JSON, body.to_string().into_bytes()))
            }
            ["v1", "providers", ns, ty, rest @ ..] => {
                let up = ctx.upstream("terraform");
                let host = host_of(up).ok_or_else(|| {
                    Error::NotFound("no provider registry: upstream.terraform is not set".into())
                })?;
                let p = Provider::new(&host, ns, ty)?;
                match rest {
                    ["versions"] => Ok(doc(
                        VERSIONS,
                        &p,
                        format!("{}|versions", p.name()),
                        format!("{up}/{}/{}/versions", p.ns, p.ty),
                        false,
                    )),
                    [version, "download", os, arch] => {
                        check_semver(version, "provider")?;
                        check_platform(os)?;
                        check_platform(arch)?;
                        Ok(doc(
                            DOWNLOAD,
                            &p,
                            format!("{}|{version}|{os}_{arch}", p.name()),
                            format!("{up}/{}/{}/{version}/download/{os}/{arch}", p.ns, p.ty),
                            false,
                        ))
                    }
                    _ => Err(Error::NotFound(format!(
                        "provider registry route /v1/providers/{}",
                        segs[2..].join("/")
                    ))),
                }
            }
            [host, ns, ty, "index.json"] => {
                let (p, up) = mirrored(ctx, host, ns, ty)?;
                Ok(doc(
                    INDEX,
                    &p,
                    format!("{}|index", p.name()),
                    format!("{up}/{}/{}/versions", p.ns, p.ty),
                    true,
                ))
            }
            [host, ns, ty, file] if file.ends_with(".json") => {
                let (p, up) = mirrored(ctx, host, ns, ty)?;
                let version = file.strip_suffix(".json").unwrap_or(file);
                check_semver(version, "provider")?;
                Ok(Plan::Metadata(archives_doc(&p, &up, version)))
            }
            [host, ns, ty, version, file] => {
                let (p, up) = mirrored(ctx, host, ns, ty)?;
                check_semver(version, "provider")?;
                if !safe_component(file) || file.len() > 200 {
                    return Err(Error::BadRequest(format!("invalid file name {file:?}")));
                }
                let key = ArtifactKey {
                    ecosystem: ECOSYSTEM,
                    name: p.name(),
                    version: version.to_string(),
                    filename: file.to_string(),
                };
                // Where it is and what it must hash to, only a document can say: a zip asked
                // for before its version's archives document has that read first.
                Ok(Plan::Artifact(
                    Artifact::new(key, String::new(), "application/octet-stream")
                        .listed_in(archives_doc(&p, &up, version)),
                ))
            }
            _ => Err(Error::NotFound(format!(
                "Terraform route /{} (mirror: /terraform/{{hostname}}/{{namespace}}/{{type}}/index.json)",
                segs.join("/")
            ))),
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
        if doc.kind != DOWNLOAD {
            return super::pass(input, out);
        }
        let mut body = Vec::new();
        input.read_to_end(&mut body)?;
        let d = Download::read(&body, &doc.url)?;
        let version = key_part(doc, 1);
        let dir = format!("{}/{}", doc.package, escape(version));
        let here = |file: &str| format!("{}/{ECOSYSTEM}/{dir}/{file}", ctx.base_url);
        let mut targets = vec![("download_url", here(&d.filename))];
        found.link(d.zip_link(doc, version));
        for (field, url) in [
            ("shasums_url", &d.shasums_url),
            ("shasums_signature_url", &d.signature_url),
        ] {
            let Some(url) = url else { continue };
            let file =
                last_segment(url).ok_or_else(|| Bad(format!("{field} {url:?} names no file")))?;
            targets.push((field, here(&file)));
            found.link(Link {
                name: doc.package.clone(),
                version: version.to_string(),
                path: format!("{dir}/{file}"),
                filename: file,
                url: url.clone(),
                digest: None,
                flags: Flags::default(),
            });
        }
        json::rewrite(&mut body.as_slice(), out, &mut Point(&targets))?;
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let mut it = name.splitn(3, '/');
        let (Some(host), Some(ns), Some(ty)) = (it.next(), it.next(), it.next()) else {
            return Err(Error::BadRequest(format!(
                "Terraform provider {name:?}: expected hostname/namespace/type"
            )));
        };
        let p = Provider::new(host, ns, ty)?;
        let mut docs = vec![(format!("{}/index.json", p.name()), None)];
        if let Want::Exact(v) = want {
            check_semver(v, "provider")?;
            docs.push((format!("{}/{v}.json", p.name()), None));
        }
        Ok(Mirror::docs(p.name(), docs, want))
    }

    fn canonical_name(&self, name: &str) -> String {
        name.to_ascii_lowercase()
    }
}

/// A provider address: `hostname/namespace/type`, lowercase.
struct Provider {
    host: String,
    ns: String,
    ty: String,
}

impl Provider {
    fn new(host: &str, ns: &str, ty: &str) -> Result<Provider> {
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
            && !host.starts_with(['.', '-', ':']);
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.as_bytes()[0].is_ascii_alphanumeric()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        };
        if !valid_host || !valid(ns) || !valid(ty) {
            return Err(Error::BadRequest(format!(
                "invalid provider address {host}/{ns}/{ty}"
            )));
        }
        Ok(Provider {
            host: host.to_ascii_lowercase(),
            ns: ns.to_ascii_lowercase(),
            ty: ty.to_ascii_lowercase(),
        })
    }

    fn name(&self) -> String {
        format!("{}/{}/{}", self.host, self.ns, self.ty)
    }
}

/// A mirrored provider and the registry its hostname names: the upstream whose URL has that
/// host. For a hostname no upstream has, the registry protocol's usual place on that host: never
/// fetched (its origin is not configured, so the request fails saying which key to set), but
/// what an offline proxy needs to serve a cache filled elsewhere without the same settings.
fn mirrored(ctx: &Ctx<'_>, host: &str, ns: &str, ty: &str) -> Result<(Provider, String)> {
    let p = Provider::new(host, ns, ty)?;
    let up = std::iter::once(ctx.upstream("terraform"))
        .chain(ctx.names("terraform").into_iter().map(|(_, u)| u))
        .find(|u| host_of(u).as_deref() == Some(p.host.as_str()))
        .map_or_else(
            || format!("https://{}/v1/providers", p.host),
            str::to_string,
        );
    Ok((p, up))
}

/// `host[:port]` of an upstream URL, lowercase, as a provider address spells it.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?']).next()?.rsplit('@').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `{version}.json`: read first, the platforms the registry's version list gives the version,
/// whose download documents follow (`Registry::parts`).
fn archives_doc(p: &Provider, up: &str, version: &str) -> Metadata {
    metadata(
        ARCHIVES,
        p,
        format!("{}|{version}", p.name()),
        format!("{up}/{}/{}/versions", p.ns, p.ty),
        true,
    )
}

/// The mirror documents' further parts: each platform's download document, then the
/// version's `SHA256SUMS` (see `Assembly::more`).
fn more_parts(doc: &Metadata, fetched: &[Part], _ctx: &Ctx<'_>) -> Result<Vec<String>, Bad> {
    if doc.kind != ARCHIVES {
        return Ok(Vec::new());
    }
    let version = key_part(doc, 1);
    let prefix = downloads_prefix(doc);
    if fetched.len() == 1 {
        // First round: each platform's download document.
        return Ok(platforms(&fetched[0].body, version)?
            .into_iter()
            .map(|(os, arch)| format!("{prefix}{os}/{arch}"))
            .collect());
    }
    // Then the version's SHA256SUMS, once (every platform names the same file).
    let mut sums = Vec::new();
    for part in fetched
        .iter()
        .filter(|p| p.status == 200 && p.url.starts_with(&prefix))
    {
        if let Ok(d) = Download::read(&part.body, &part.url)
            && let Some(url) = d.shasums_url
            && !sums.contains(&url)
        {
            sums.push(url);
        }
    }
    Ok(sums)
}

/// Writes a mirror document from its parts (see `Assembly::write`).
fn assemble(
    doc: &Metadata,
    parts: &[Part],
    out: &mut dyn Write,
    ctx: &Ctx<'_>,
    found: &mut dyn Found,
) -> Result<(), Bad> {
    let body = if doc.kind == INDEX {
        index(doc, &parts[0].body, found)?
    } else {
        archives(doc, parts, ctx, found)?
    };
    out.write_all(body.to_string().as_bytes())?;
    Ok(())
}

/// How the mirror protocol's documents are built from the registry protocol's.
const ASSEMBLY: Assembly = Assembly {
    more: more_parts,
    write: assemble,
};

fn doc(kind: Kind, p: &Provider, key: String, url: String, parts: bool) -> Plan {
    Plan::Metadata(metadata(kind, p, key, url, parts))
}

fn metadata(kind: Kind, p: &Provider, key: String, url: String, parts: bool) -> Metadata {
    Metadata {
        ecosystem: ECOSYSTEM,
        kind,
        key,
        url,
        accept: Some(JSON),
        package: p.name(),
        content_type: JSON,
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: parts.then_some(ASSEMBLY),
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
    }
}

/// Where the download documents of an archives document's version are:
/// `{providers.v1}/{ns}/{type}/{version}/download/`.
fn downloads_prefix(doc: &Metadata) -> String {
    let provider = doc.url.strip_suffix("/versions").unwrap_or(&doc.url);
    format!("{provider}/{}/download/", key_part(doc, 1))
}

/// The `n`th `|`-separated part of a document's key (`{provider}|{version}|…`).
fn key_part(doc: &Metadata, n: usize) -> &str {
    doc.key.split('|').nth(n).unwrap_or("")
}

fn valid_platform(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check_platform(s: &str) -> Result<()> {
    if valid_platform(s) {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("invalid os or arch {s:?}")))
    }
}

/// The last path segment of a URL, if it can name a file here.
fn last_segment(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let seg = crate::url::percent_decode(path.rsplit('/').next()?)?;
    (safe_component(&seg) && seg.len() <= 200).then_some(seg)
}

fn parse(body: &[u8]) -> Result<Value, Bad> {
    serde_json::from_slice(body).map_err(|err| Bad(format!("invalid JSON: {err}")))
}

/// The platforms the registry's version list gives `version`.
fn platforms(body: &[u8], version: &str) -> Result<Vec<(String, String)>, Bad> {
    let v = parse(body)?;
    let entry = v["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|e| e["version"] == version))
        .ok_or_else(|| Bad(format!("the registry lists no version {version}")))?;
    Ok(entry["platforms"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| Some((p["os"].as_str()?, p["arch"].as_str()?)))
        .filter(|(os, arch)| valid_platform(os) && valid_platform(arch))
        .map(|(os, arch)| (os.to_string(), arch.to_string()))
        .collect())
}

/// A registry's download document, its URLs resolved against where it was read.
struct Download {
    os: String,
    arch: String,
    filename: String,
    url: String,
    shasum: Digest,
    shasums_url: Option<String>,
    signature_url: Option<String>,
}

impl Download {
    fn read(body: &[u8], at: &str) -> Result<Download, Bad> {
        let v = parse(body)?;
        let s = |k: &str| v[k].as_str().filter(|s| !s.is_empty());
        let filename = s("filename")
            .filter(|f| safe_component(f) && f.len() <= 200)
            .ok_or_else(|| Bad("download document without a usable filename".into()))?;
        let shasum = s("shasum")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| Bad(format!("{filename}: no SHA-256 shasum")))?;
        let web = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        let url = s("download_url")
            .map(|u| join(at, u))
            .filter(|u| web(u))
            .ok_or_else(|| Bad(format!("{filename}: no http(s) download_url")))?;
        Ok(Download {
            os: s("os").unwrap_or("").to_string(),
            arch: s("arch").unwrap_or("").to_string(),
            filename: filename.to_string(),
            url,
            shasum: Digest {
                algo: Algo::Sha256,
                hex: shasum.to_ascii_lowercase(),
            },
            shasums_url: s("shasums_url").map(|u| join(at, u)).filter(|u| web(u)),
            signature_url: s("shasums_signature_url")
                .map(|u| join(at, u))
                .filter(|u| web(u)),
        })
    }

    fn zip_link(&self, doc: &Metadata, version: &str) -> Link {
        Link {
            name: doc.package.clone(),
            version: version.to_string(),
            filename: self.filename.clone(),
            path: format!("{}/{}/{}", doc.package, escape(version), self.filename),
            url: self.url.clone(),
            digest: Some(self.shasum.clone()),
            flags: Flags::default(),
        }
    }
}

/// `index.json`: every version the registry lists, each a document for the mirror.
fn index(doc: &Metadata, body: &[u8], found: &mut dyn Found) -> Result<Value, Bad> {
    let v = parse(body)?;
    let mut versions = serde_json::Map::new();
    for e in v["versions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(version) = e["version"].as_str().filter(|v| semver_like(v)) else {
            continue;
        };
        versions.insert(version.to_string(), Value::Object(serde_json::Map::new()));
        found.link(Link::document(
            &doc.package,
            version,
            &format!("{version}.json"),
            format!("{}/{version}.json", doc.package),
        ));
    }
    Ok(serde_json::json!({ "versions": versions }))
}

/// `{version}.json`: each platform's archive, from its download document, cross-checked
/// against the version's SHA256SUMS.
fn archives(
    doc: &Metadata,
    parts: &[Part],
    ctx: &Ctx<'_>,
    found: &mut dyn Found,
) -> Result<Value, Bad> {
    let version = key_part(doc, 1);
    let prefix = downloads_prefix(doc);
    let is_download = |p: &&Part| p.url.starts_with(&prefix);
    let sums: Vec<(&str, &Part)> = parts
        .iter()
        .skip(1)
        .filter(|p| !is_download(p))
        .map(|p| (p.url.as_str(), p))
        .collect();
    // The default registry's providers are also served through the registry protocol.
    let registry_protocol = host_of(ctx.upstream("terraform"))
        .is_some_and(|h| doc.package.starts_with(&format!("{h}/")));
    let (_, ns_type) = doc.package.split_once('/').unwrap_or_default();
    let mut archives = serde_json::Map::new();
    for part in parts.iter().skip(1).filter(is_download) {
        // A platform the list names but the registry cannot serve is left out.
        if part.status != 200 {
            continue;
        }
        let d = Download::read(&part.body, &part.url)?;
        // The platform it was asked for: `…/download/{os}/{arch}`.
        let mut segs = part.url.rsplit('/');
        let (arch, os) = (segs.next().unwrap_or(""), segs.next().unwrap_or(""));
        if (d.os.as_str(), d.arch.as_str()) != (os, arch) {
            return Err(Bad(format!(
                "download document for {os}_{arch} describes {}_{}",
                d.os, d.arch
            )));
        }
        let listed = d.shasums_url.as_deref().and_then(|u| {
            let (_, p) = sums.iter().find(|(url, _)| *url == u)?;
            (p.status == 200).then(|| sha256sums(&p.body, &d.filename))
        });
        match listed {
            Some(Some(hex)) if hex.eq_ignore_ascii_case(&d.shasum.hex) => {}
            Some(Some(hex)) => {
                return Err(Bad(format!(
                    "{}: the download document's shasum {} disagrees with SHA256SUMS ({hex})",
                    d.filename, d.shasum.hex
                )));
            }
            _ => {
                return Err(Bad(format!(
                    "{}: no SHA256SUMS lists it to check its shasum against",
                    d.filename
                )));
            }
        }
        archives.insert(
            format!("{os}_{arch}"),
            serde_json::json!({
                "url": format!("{}/{}", escape(version), escape(&d.filename)),
                "hashes": [format!("zh:{}", d.shasum.hex)],
            }),
        );
        found.link(d.zip_link(doc, version));
        // For the registry protocol offline (the default registry's providers only): its
        // download document, whose rewrite names the SHA256SUMS and signature Terraform reads.
        if registry_protocol {
            found.link(Link::document(
                &doc.package,
                version,
                &format!("download-{os}_{arch}"),
                format!("v1/providers/{ns_type}/{version}/download/{os}/{arch}"),
            ));
        }
    }
    if registry_protocol {
        found.link(Link::document(
            &doc.package,
            "",
            "versions",
            format!("v1/providers/{ns_type}/versions"),
        ));
    }
    Ok(serde_json::json!({ "archives": archives }))
}

/// The digest a `SHA256SUMS` file gives `file` (`{hex}  {file}` lines).
fn sha256sums(text: &[u8], file: &str) -> Option<String> {
    String::from_utf8_lossy(text).lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let (hex, name) = (w.next()?, w.next()?);
        (name.trim_start_matches('*') == file && hex.len() == 64).then(|| hex.to_string())
    })
}

/// Points the named top-level string fields at their targets.
struct Point<'a>(&'a [(&'static str, String)]);

impl json::Visitor for Point<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        matches!(path, [Seg::Key(k)] if self.0.iter().any(|(f, _)| f == k))
    }

    fn string(&mut self, path: &[Seg], _value: &str) -> Option<String> {
        let [Seg::Key(k)] = path else { return None };
        self.0.iter().find(|(f, _)| f == k).map(|(_, t)| t.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::registry::{Collected, testing};

    const UP: &[(&str, &str)] = &[
        ("terraform", "https://registry.example/v1/providers"),
        ("terraform.tofu", "https://tofu.example:8443/api/providers"),
    ];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Terraform, path, None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, |m| {
            format!(
                "meta {} {} {} parts={}",
                m.kind.0,
                m.key,
                m.url,
                m.parts.is_some()
            )
        })
    }

    #[test]
    fn routes() {
        assert_eq!(
            show(plan("/registry.example/hashicorp/random/index.json")),
            "meta index registry.example/hashicorp/random|index https://registry.example/v1/providers/hashicorp/random/versions parts=true"
        );
        assert_eq!(
            show(plan("/Registry.Example/HashiCorp/random/3.6.0.json")),
            "meta archives registry.example/hashicorp/random|3.6.0 https://registry.example/v1/providers/hashicorp/random/versions parts=true"
        );
        assert_eq!(
            show(plan("/tofu.example:8443/hashicorp/random/index.json")),
            "meta index tofu.example:8443/hashicorp/random|index https://tofu.example:8443/api/providers/hashicorp/random/versions parts=true"
        );
        assert_eq!(
            show(plan(
                "/registry.example/hashicorp/random/3.6.0/terraform-provider-random_3.6.0_linux_amd64.zip"
            )),
            "art registry.example/hashicorp/random@3.6.0 terraform-provider-random_3.6.0_linux_amd64.zip "
        );
        assert_eq!(
            show(plan("/v1/providers/hashicorp/random/versions")),
            "meta versions registry.example/hashicorp/random|versions https://registry.example/v1/providers/hashicorp/random/versions parts=false"
        );
        assert_eq!(
            show(plan(
                "/v1/providers/hashicorp/random/3.6.0/download/linux/amd64"
            )),
            "meta download registry.example/hashicorp/random|3.6.0|linux_amd64 https://registry.example/v1/providers/hashicorp/random/3.6.0/download/linux/amd64 parts=false"
        );
        let Ok(Plan::Generated { body, .. }) = plan("/.well-known/terraform.json") else {
            panic!()
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["providers.v1"], "http://proxy/terraform/v1/providers/");
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/registry.example/hashicorp/index.json",
            "/registry.example/hash corp/random/index.json",
            "/registry.example/hashicorp/random/v1.json",
            "/registry.example/hashicorp/random/../x.zip",
            "/v1/providers/hashicorp/random/1.0.0/download/linux",
            "/v1/providers/hashicorp/random/1.0.0/download/li-nux/amd64",
            "/v1/modules/hashicorp/consul/aws/versions",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
        // A hostname no upstream has: the usual place, which is not an allowed origin.
        assert_eq!(
            show(plan("/unknown.example/hashicorp/random/index.json")),
            "meta index unknown.example/hashicorp/random|index https://unknown.example/v1/providers/hashicorp/random/versions parts=true"
        );
    }

    const VERSIONS_DOC: &str = r#"{"id":"hashicorp/random","versions":[{"version":"3.6.0","protocols":["5.0"],"platforms":[{"os":"linux","arch":"amd64"},{"os":"darwin","arch":"arm64"},{"os":"../x","arch":"y"}]},{"version":"3.5.1","protocols":["5.0"],"platforms":[]},{"version":"not a version"}],"warnings":null}"#;

    fn download(os: &str, arch: &str, sum: &str) -> String {
        serde_json::json!({
            "protocols": ["5.0"], "os": os, "arch": arch,
            "filename": format!("terraform-provider-random_3.6.0_{os}_{arch}.zip"),
            "download_url": format!("https://releases.example/terraform-provider-random/3.6.0/terraform-provider-random_3.6.0_{os}_{arch}.zip"),
            "shasums_url": "https://releases.example/terraform-provider-random/3.6.0/terraform-provider-random_3.6.0_SHA256SUMS",
            "shasums_signature_url": "https://releases.example/terraform-provider-random/3.6.0/terraform-provider-random_3.6.0_SHA256SUMS.72D7468F.sig",
            "shasum": sum,
            "signing_keys": {"gpg_public_keys": [{"key_id": "72D7468F", "ascii_armor": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n..."}]},
        })
        .to_string()
    }

    fn part(url: &str, status: u16, body: &str) -> Part {
        Part {
            url: url.to_string(),
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    fn ctx_of(up: &std::collections::BTreeMap<String, String>) -> Ctx<'_> {
        testing::ctx(up)
    }

    #[test]
    fn index_lists_every_version() {
        let meta = testing::metadata(
            &Terraform,
            "/registry.example/hashicorp/random/index.json",
            None,
            UP,
        );
        let up = testing::upstream_map(&Terraform, UP);
        let mut found = Collected::default();
        let parts = [part(&meta.url, 200, VERSIONS_DOC)];
        assert!(more_parts(&meta, &parts, &ctx_of(&up)).unwrap().is_empty());
        let mut out = Vec::new();
        assemble(&meta, &parts, &mut out, &ctx_of(&up), &mut found).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"versions": {"3.6.0": {}, "3.5.1": {}}})
        );
        let docs: Vec<&str> = found.links.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(
            docs,
            [
                "registry.example/hashicorp/random/3.6.0.json",
                "registry.example/hashicorp/random/3.5.1.json"
            ]
        );
    }

    #[test]
    fn archives_come_from_each_platforms_download_document_checked_against_sha256sums() {
        let meta = testing::metadata(
            &Terraform,
            "/registry.example/hashicorp/random/3.6.0.json",
            None,
            UP,
        );
        let up = testing::upstream_map(&Terraform, UP);
        let ctx = ctx_of(&up);
        let base = "https://registry.example/v1/providers/hashicorp/random/3.6.0/download";
        let mut parts = vec![part(&meta.url, 200, VERSIONS_DOC)];
        let round1 = more_parts(&meta, &parts, &ctx).unwrap();
        assert_eq!(
            round1,
            [
                format!("{base}/linux/amd64"),
                format!("{base}/darwin/arm64")
            ]
        );
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        parts.push(part(&round1[0], 200, &download("linux", "amd64", &a)));
        parts.push(part(&round1[1], 200, &download("darwin", "arm64", &b)));
        let round2 = more_parts(&meta, &parts, &ctx).unwrap();
        let sums_url = "https://releases.example/terraform-provider-random/3.6.0/terraform-provider-random_3.6.0_SHA256SUMS";
        assert_eq!(round2, [sums_url]);
        let sums = format!(
            "{a}  terraform-provider-random_3.6.0_linux_amd64.zip\n{b}  terraform-provider-random_3.6.0_darwin_arm64.zip\n"
        );
        parts.push(part(sums_url, 200, &sums));
        let assembled = |parts: &[Part]| {
            let mut found = Collected::default();
            let mut out = Vec::new();
            assemble(&meta, parts, &mut out, &ctx, &mut found)
                .map(|()| (serde_json::from_slice::<Value>(&out).unwrap(), found.links))
        };
        let (v, links) = assembled(&parts).unwrap();
        assert_eq!(
            v["archives"]["linux_amd64"],
            serde_json::json!({"url": "3.6.0/terraform-provider-random_3.6.0_linux_amd64.zip", "hashes": [format!("zh:{a}")]})
        );
        assert_eq!(
            v["archives"]["darwin_arm64"]["hashes"][0],
            format!("zh:{b}")
        );
        let zip = &links[0];
        assert_eq!(
            (
                zip.path.as_str(),
                zip.url.as_str(),
                zip.digest.as_ref().unwrap().hex.as_str()
            ),
            (
                "registry.example/hashicorp/random/3.6.0/terraform-provider-random_3.6.0_linux_amd64.zip",
                "https://releases.example/terraform-provider-random/3.6.0/terraform-provider-random_3.6.0_linux_amd64.zip",
                a.as_str()
            )
        );
        // The default registry's provider: its registry-protocol documents come along.
        assert!(links.iter().any(|l| l.flags.document
            && l.path == "v1/providers/hashicorp/random/3.6.0/download/linux/amd64"));
        assert!(links.iter().any(|l| l.path == "v1/providers/hashicorp/random/versions" && l.version.is_empty()));
        // A platform the registry cannot serve is left out.
        let mut missing = parts.clone();
        missing[2] = part(&round1[1], 404, "");
        let (v, _) = assembled(&missing).unwrap();
        assert_eq!(v["archives"].as_object().unwrap().len(), 1);
        // SHA256SUMS disagreeing, or missing: nothing is served.
        let mut lying = parts.clone();
        lying[3] = part(sums_url, 200, &sums.replace(&b, &"c".repeat(64)));
        assert!(assembled(&lying).unwrap_err().0.contains("disagrees"));
        let mut unsummed = parts.clone();
        unsummed[3] = part(sums_url, 404, "");
        assert!(assembled(&unsummed).is_err());
        // A version the registry does not list.
        let other = testing::metadata(
            &Terraform,
            "/registry.example/hashicorp/random/9.9.9.json",
            None,
            UP,
        );
        assert!(more_parts(&other, &parts[..1], &ctx).is_err());
    }

    #[test]
    fn registry_download_documents_point_here() {
        let path = "/v1/providers/hashicorp/random/3.6.0/download/linux/amd64";
        let meta = testing::metadata(&Terraform, path, None, UP);
        let sum = "d".repeat(64);
        let body = download("linux", "amd64", &sum);
        let (out, found) = testing::rewrite(&Terraform, &meta, body.as_bytes(), UP).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        let dir = "http://proxy/terraform/registry.example/hashicorp/random/3.6.0";
        assert_eq!(
            v["download_url"],
            format!("{dir}/terraform-provider-random_3.6.0_linux_amd64.zip")
        );
        assert_eq!(
            v["shasums_url"],
            format!("{dir}/terraform-provider-random_3.6.0_SHA256SUMS")
        );
        assert_eq!(
            v["shasums_signature_url"],
            format!("{dir}/terraform-provider-random_3.6.0_SHA256SUMS.72D7468F.sig")
        );
        // Everything else byte for byte: the signing keys Terraform checks the signature with.
        assert!(out.contains(r#""ascii_armor":"-----BEGIN PGP PUBLIC KEY BLOCK-----\n...""#));
        let files: Vec<(&str, bool)> = found
            .links
            .iter()
            .map(|l| (l.filename.as_str(), l.digest.is_some()))
            .collect();
        assert_eq!(
            files,
            [
                ("terraform-provider-random_3.6.0_linux_amd64.zip", true),
                ("terraform-provider-random_3.6.0_SHA256SUMS", false),
                (
                    "terraform-provider-random_3.6.0_SHA256SUMS.72D7468F.sig",
                    false
                ),
            ]
        );
        for bad in [
            r#"{"filename":"x.zip","download_url":"https://a/x.zip"}"#,
            r#"{"filename":"../x","shasum":"aa","download_url":"https://a/x.zip"}"#,
        ] {
            assert!(
                testing::rewrite(&Terraform, &meta, bad.as_bytes(), UP).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn mirror_names() {
        let m = Terraform
            .mirror(
                "Registry.Terraform.io/hashicorp/random",
                &Want::Exact("3.6.0".into()),
            )
            .unwrap();
        assert_eq!(m.package, "registry.terraform.io/hashicorp/random");
        let docs: Vec<&str> = m.docs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            docs,
            [
                "registry.terraform.io/hashicorp/random/index.json",
                "registry.terraform.io/hashicorp/random/3.6.0.json"
            ]
        );
        assert!(Terraform.mirror("hashicorp/random", &Want::Latest).is_err());
    }
}
