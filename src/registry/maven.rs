//! Maven repositories in the Maven 2 layout (Maven Central and compatible), as Maven, Gradle, sbt
//! and Coursier read them.
//!
//! URL grammar under `/maven` (the repository's own paths; `{group}` is the groupId with `.` as
//! `/`, at least one segment):
//! - `/{group}/{artifact}/{version}/{file}` with a release version: a file of that version (`.jar`,
//!   `.pom`, `.module`, `.aar`, classifiers, and the `.sha1`/`.md5`/`.sha256`/`.sha512`/`.asc`
//!   sidecars), immutable, keyed (maven, `{groupId}:{artifactId}`, version, file). `{file}` must
//!   be `{artifact}-{version}` followed by `.` or `-` (a classifier), as the layout names it.
//!   Before a main file is fetched its `.sha512` sidecar is read from the upstream (see
//!   `digest_sidecar`): where there is one the file is verified against it; where there is none
//!   (most artifacts: Gradle publishes one, Maven does not) it is stored unverified, never
//!   against an invented digest, and the client checks the SHA-1 it asks for. Weaker digests are
//!   never checked here: they are passed through for the client.
//! - `/{group}/{artifact}/{version}-SNAPSHOT/{file}`: a snapshot file
//!   (`{artifact}-{base}-SNAPSHOT.*` or timestamped `{artifact}-{base}-{yyyyMMdd.HHmmss}-{n}.*`). Snapshots are redeployed in
//!   place, so every one of them is mutable: cached with the metadata TTL, never forever.
//! - `…/maven-metadata.xml` and its sidecars, at group (plugin prefixes), artifact (versions)
//!   and snapshot-version level: mutable, cached with the TTL, stored byte-identical.
//! - `/archetype-catalog.xml`: mutable.
//!
//! Anything else (directory listings, paths off the layout, a file named for another artifact)
//! is refused with 400 before any upstream is asked.

use std::io::BufRead;

use super::{
    Algo, Artifact, ArtifactKey, Ctx, Metadata, Plan, Registry, Request, Want, safe_component,
};
use crate::error::{Error, Result};

pub(crate) struct Maven;

/// Checksum and signature sidecars a repository publishes next to every file.
const SIDECARS: &[&str] = &["sha1", "md5", "sha256", "sha512", "asc"];

impl Registry for Maven {
    fn name(&self) -> &'static str {
        "maven"
    }

    fn upstreams(&self) -> &'static [(&'static str, &'static str)] {
        &[("maven", "https://repo1.maven.org/maven2")]
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("maven").trim_end_matches('/');
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let path = segs.join("/");
        let off_layout = |why: &str| {
            Error::BadRequest(format!(
                "/maven/{path} is not a Maven repository path: {why}"
            ))
        };
        let Some((file, dirs)) = segs.split_last() else {
            return Err(Error::NotFound("maven: a repository path is needed".into()));
        };
        let url = format!(
            "{up}/{}",
            segs.iter()
                .map(|s| super::escape(s))
                .collect::<Vec<_>>()
                .join("/")
        );
        if dirs.is_empty() {
            if strip_sidecar(file) == "archetype-catalog.xml" {
                return Ok(metadata(path, url, "archetype-catalog".into(), "catalog"));
            }
            return Err(off_layout("no group directory"));
        }
        if strip_sidecar(file) == "maven-metadata.xml" {
            // Group, artifact or snapshot-version level: the key is the path, so which one it is
            // only matters for the package name the entry is listed under.
            // Group and artifact names are a subset of what a version directory may be named.
            if !dirs.iter().all(|d| version(d)) {
                return Err(off_layout("invalid directory name"));
            }
            let package = match dirs {
                [group @ .., artifact, v] if !group.is_empty() && v.ends_with("-SNAPSHOT") => {
                    format!("{}:{artifact}", group.join("."))
                }
                [group @ .., artifact] if !group.is_empty() => {
                    format!("{}:{artifact}", group.join("."))
                }
                _ => dirs.join("."),
            };
            return Ok(metadata(path, url, package, "maven-metadata"));
        }
        let [group @ .., artifact, ver] = dirs else {
            return Err(off_layout("files live in {group}/{artifact}/{version}/"));
        };
        if group.is_empty() {
            return Err(off_layout("files live in {group}/{artifact}/{version}/"));
        }
        if !group.iter().chain([artifact]).all(|s| coordinate(s)) {
            return Err(off_layout("invalid groupId or artifactId"));
        }
        if !version(ver) {
            return Err(off_layout("invalid version"));
        }
        if !file_name(file) {
            return Err(off_layout("invalid file name"));
        }
        let name = format!("{}:{artifact}", group.join("."));
        if let Some(base) = ver.strip_suffix("-SNAPSHOT") {
            // `{artifact}-{base}-SNAPSHOT.jar` or `{artifact}-{base}-20240101.120000-1.jar`.
            if !file.starts_with(&format!("{artifact}-{base}-")) {
                return Err(off_layout("not a file of this snapshot"));
            }
            return Ok(metadata(path, url, name, "snapshot"));
        }
        let stem = format!("{artifact}-{ver}");
        let of_version = file
            .strip_prefix(&stem)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'));
        if !of_version {
            return Err(off_layout(&format!(
                "files of this version are named {stem}.*"
            )));
        }
        Ok(Plan::Artifact(Artifact {
            key: ArtifactKey {
                ecosystem: "maven",
                name,
                version: ver.to_string(),
                filename: file.to_string(),
            },
            url,
            digest: None,
            content_type: content_type(file),
        }))
    }

    fn digest_sidecar(&self, key: &ArtifactKey, url: &str) -> Option<(String, Algo)> {
        // Only main files: a sidecar of a sidecar is not something clients ask for.
        if strip_sidecar(&key.filename) != key.filename {
            return None;
        }
        // SHA-512 rather than SHA-256: Gradle publishes both, and publishers that trim the
        // optional ones keep the SHA-512 (Gradle reads it), so it is the one most often there.
        Some((format!("{url}.sha512"), Algo::Sha512))
    }

    fn mirror_documents(&self, name: &str) -> Result<Vec<(String, Option<&'static str>)>> {
        let (group, artifact) = split_name(name)?;
        Ok(vec![(
            format!("{}/{artifact}/maven-metadata.xml", group.replace('.', "/")),
            None,
        )])
    }

    fn mirror_artifacts(
        &self,
        name: &str,
        doc: &mut dyn BufRead,
        want: &Want,
        _ctx: &Ctx<'_>,
    ) -> Result<Vec<(String, String)>> {
        let (group, artifact) = split_name(name)?;
        let mut text = String::new();
        doc.read_to_string(&mut text)
            .map_err(|err| Error::BadUpstream {
                url: format!("maven-metadata.xml of {name}"),
                msg: err.to_string(),
            })?;
        let listed = MetadataXml::parse(&text);
        // Snapshots are fetched by timestamped names the version's own metadata gives; a
        // mirror of releases is what an offline build needs.
        let versions: Vec<String> = listed
            .versions
            .into_iter()
            .filter(|v| version(v) && !v.ends_with("-SNAPSHOT"))
            .collect();
        let release = listed.release.filter(|r| versions.contains(r));
        let dir = format!("{}/{artifact}", group.replace('.', "/"));
        let mut out = Vec::new();
        for v in want.pick(&versions, release.as_deref()) {
            // The POM says whether there is a jar at all (`<packaging>pom</packaging>` has
            // none), but only the first document is read here; a jar-less release reports a 404.
            for file in ["pom", "pom.sha1", "jar", "jar.sha1"] {
                out.push((v.to_string(), format!("{dir}/{v}/{artifact}-{v}.{file}")));
            }
        }
        Ok(out)
    }
}

fn metadata(key: String, url: String, package: String, kind: &'static str) -> Plan {
    let content_type = content_type(&key);
    Plan::Metadata(Metadata {
        ecosystem: "maven",
        kind,
        key,
        url,
        accept: None,
        package,
        content_type,
    })
}

/// The file name without a checksum or signature extension.
fn strip_sidecar(file: &str) -> &str {
    for ext in SIDECARS {
        if let Some(stem) = file.strip_suffix(ext).and_then(|s| s.strip_suffix('.')) {
            return stem;
        }
    }
    file
}

fn content_type(file: &str) -> &'static str {
    let ext = file.rsplit('.').next().unwrap_or("");
    match ext {
        "jar" | "war" | "ear" | "aar" => "application/java-archive",
        "pom" | "xml" => "application/xml",
        "module" => "application/json",
        "sha1" | "md5" | "sha256" | "sha512" => "text/plain",
        "asc" => "application/pgp-signature",
        _ => "application/octet-stream",
    }
}

/// A groupId segment or an artifactId: what Maven's model validator allows for them.
fn coordinate(s: &str) -> bool {
    safe_component(s)
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// A version directory. Maven allows almost anything; this is what repositories hold in practice
/// and what is safe in a path and a URL.
fn version(s: &str) -> bool {
    safe_component(s)
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'+' | b'~'))
}

/// A file name in a version directory: a version-like stem and extensions.
fn file_name(s: &str) -> bool {
    version(s)
}

/// `group:artifact` (the package URL's namespace and name, as `proxy mirror` gets them).
fn split_name(name: &str) -> Result<(&str, &str)> {
    let bad = || {
        Error::Usage(format!(
            "Maven package {name:?} is not groupId:artifactId (pkg:maven/com.example/lib@1.0)"
        ))
    };
    let (group, artifact) = name.split_once(':').ok_or_else(bad)?;
    let group_ok = !group.is_empty() && group.split('.').all(coordinate);
    if !group_ok || !coordinate(artifact) {
        return Err(bad());
    }
    Ok((group, artifact))
}

/// What `proxy mirror` reads of an artifact-level `maven-metadata.xml`: the listed versions and
/// the `release` pointer. Repository metadata is a fixed, flat format without attributes or
/// entities in these elements, so a scan for the elements is enough; anything else is ignored.
#[derive(Debug, Default, PartialEq, Eq)]
struct MetadataXml {
    versions: Vec<String>,
    release: Option<String>,
}

impl MetadataXml {
    fn parse(text: &str) -> MetadataXml {
        let versions_block = between(text, "<versions>", "</versions>").unwrap_or("");
        let mut versions = Vec::new();
        let mut rest = versions_block;
        while let Some(v) = between(rest, "<version>", "</version>") {
            versions.push(v.trim().to_string());
            let end = rest
                .find("</version>")
                .map_or(rest.len(), |i| i + "</version>".len());
            rest = &rest[end..];
        }
        let release = between(text, "<release>", "</release>")
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        MetadataXml { versions, release }
    }
}

/// The text between the first `open` and the `close` after it.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn plan(path: &str) -> Result<Plan> {
        let up: BTreeMap<String, String> = [(
            "maven".to_string(),
            "https://up.example/maven2/".to_string(),
        )]
        .into();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let segments: Vec<String> = path.split('/').skip(1).map(str::to_string).collect();
        Maven.route(
            &Request {
                segments: &segments,
                query: None,
                accept: None,
            },
            &ctx,
        )
    }

    fn show(p: Result<Plan>) -> String {
        match p.unwrap() {
            Plan::Metadata(m) => format!("meta {} {} {} {}", m.kind, m.package, m.key, m.url),
            Plan::Artifact(a) => format!(
                "art {}@{} {} {} {}",
                a.key.name, a.key.version, a.key.filename, a.url, a.content_type
            ),
            Plan::Passthrough { url } => format!("pass {url}"),
            Plan::Generated { .. } => "generated".into(),
        }
    }

    #[test]
    fn release_files_are_artifacts() {
        assert_eq!(
            show(plan(
                "/com/google/guava/guava/32.1.3-jre/guava-32.1.3-jre.jar"
            )),
            "art com.google.guava:guava@32.1.3-jre guava-32.1.3-jre.jar \
             https://up.example/maven2/com/google/guava/guava/32.1.3-jre/guava-32.1.3-jre.jar \
             application/java-archive"
        );
        assert_eq!(
            show(plan("/junit/junit/4.13.2/junit-4.13.2.pom.sha1")),
            "art junit:junit@4.13.2 junit-4.13.2.pom.sha1 \
             https://up.example/maven2/junit/junit/4.13.2/junit-4.13.2.pom.sha1 text/plain"
        );
        for file in [
            "lib-1.0.module",
            "lib-1.0.aar",
            "lib-1.0-sources.jar",
            "lib-1.0-sources.jar.asc",
            "lib-1.0.jar.sha512",
            "lib-1.0.jar.md5",
            "lib-1.0-linux-x86_64.tar.gz",
        ] {
            let p = plan(&format!("/org/ex/lib/1.0/{file}")).unwrap();
            assert!(matches!(p, Plan::Artifact(_)), "{file}");
        }
    }

    #[test]
    fn metadata_and_snapshots_are_mutable() {
        assert_eq!(
            show(plan("/com/example/lib/maven-metadata.xml")),
            "meta maven-metadata com.example:lib com/example/lib/maven-metadata.xml \
             https://up.example/maven2/com/example/lib/maven-metadata.xml"
        );
        assert_eq!(
            show(plan("/org/apache/maven/plugins/maven-metadata.xml.sha1")),
            "meta maven-metadata org.apache.maven:plugins org/apache/maven/plugins/maven-metadata.xml.sha1 \
             https://up.example/maven2/org/apache/maven/plugins/maven-metadata.xml.sha1"
        );
        assert_eq!(
            show(plan("/com/example/lib/1.0-SNAPSHOT/maven-metadata.xml")),
            "meta maven-metadata com.example:lib com/example/lib/1.0-SNAPSHOT/maven-metadata.xml \
             https://up.example/maven2/com/example/lib/1.0-SNAPSHOT/maven-metadata.xml"
        );
        for file in [
            "lib-1.0-20240101.120000-3.jar",
            "lib-1.0-20240101.120000-3.jar.sha1",
            "lib-1.0-SNAPSHOT.pom",
        ] {
            let got = show(plan(&format!("/com/example/lib/1.0-SNAPSHOT/{file}")));
            assert!(got.starts_with("meta snapshot com.example:lib "), "{got}");
        }
        assert!(show(plan("/archetype-catalog.xml")).starts_with("meta catalog"));
    }

    #[test]
    fn off_layout_paths_are_refused() {
        for bad in [
            "/",
            "/guava.jar",
            "/com/guava.jar",
            "/com/google/guava-1.0.jar",
            "/com/google/guava/1.0",
            "/com/google/guava/1.0/other-1.0.jar",
            "/com/google/guava/1.0/guava-1.01.jar",
            "/com/google/guava/1.0/guava-1.0",
            "/com/google/guava/1.0-SNAPSHOT/guava-2.0-SNAPSHOT.jar",
            "/com/go ogle/guava/1.0/guava-1.0.jar",
            "/com/google/guava/1.0/guava-1.0.jar%00",
            "/com/.hidden/guava/1.0/guava-1.0.jar",
            "/com/google/guava/../guava-1.0.jar",
            "/com/google/guava/1.0/..",
            "/a:b/guava/1.0/guava-1.0.jar",
        ] {
            let got = plan(bad);
            assert!(got.is_err(), "{bad}");
            if bad != "/" {
                assert_eq!(got.err().unwrap().status(), 400, "{bad}");
            }
        }
    }

    #[test]
    fn sha512_sidecar_for_main_files_only() {
        let key = |f: &str| ArtifactKey {
            ecosystem: "maven",
            name: "g:a".into(),
            version: "1".into(),
            filename: f.into(),
        };
        assert_eq!(
            Maven.digest_sidecar(&key("a-1.jar"), "https://u/a-1.jar"),
            Some(("https://u/a-1.jar.sha512".to_string(), Algo::Sha512))
        );
        for f in [
            "a-1.jar.sha1",
            "a-1.jar.asc",
            "a-1.pom.sha512",
            "a-1.jar.md5",
        ] {
            assert_eq!(Maven.digest_sidecar(&key(f), "https://u/x"), None, "{f}");
        }
    }

    #[test]
    fn mirror_reads_versions_and_release() {
        let doc = "<?xml version=\"1.0\"?>\n<metadata><groupId>g.h</groupId><artifactId>a</artifactId>\
            <versioning><latest>2.0-SNAPSHOT</latest><release>1.1</release><versions>\n\
            <version>1.0</version>\n <version> 1.1 </version><version>2.0-SNAPSHOT</version>\
            <version>../x</version></versions></versioning></metadata>";
        let up = BTreeMap::new();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let got = Maven
            .mirror_artifacts("g.h:a", &mut doc.as_bytes(), &Want::Latest, &ctx)
            .unwrap();
        let paths: Vec<&str> = got.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "g/h/a/1.1/a-1.1.pom",
                "g/h/a/1.1/a-1.1.pom.sha1",
                "g/h/a/1.1/a-1.1.jar",
                "g/h/a/1.1/a-1.1.jar.sha1"
            ]
        );
        let all = Maven
            .mirror_artifacts("g.h:a", &mut doc.as_bytes(), &Want::All, &ctx)
            .unwrap();
        assert_eq!(all.len(), 8, "{all:?}");
        assert_eq!(
            Maven.mirror_documents("g.h:a").unwrap(),
            vec![("g/h/a/maven-metadata.xml".to_string(), None)]
        );
        for bad in ["a", "g:", ":a", "g/../h:a", "g..h:a"] {
            assert!(Maven.mirror_documents(bad).is_err(), "{bad}");
        }
    }
}
