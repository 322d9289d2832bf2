//! Maven repositories in the Maven 2 layout (Maven Central and compatible), as Maven, Gradle, sbt
//! and Coursier read them.
//!
//! URL grammar under `/maven` (the repository's own paths; `{group}` is the groupId with `.` as
//! `/`, at least one segment):
//! - `/{group}/{artifact}/{version}/{file}` with a release version: a file of that version (`.jar`,
//!   `.pom`, `.module`, `.aar`, classifiers, and the `.sha1`/`.md5`/`.sha256`/`.sha512`/`.asc`
//!   sidecars), immutable, keyed (maven, `{groupId}:{artifactId}`, version, file). `{file}` must
//!   be `{artifact}-{version}` followed by `.` or `-` (a classifier), as the layout names it.
//!   Before a main file is fetched its `.sha512` sidecar is read from the upstream (the plan's
//!   `Artifact::sidecars`): where there is one the file is verified against it; where there is none
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

use std::io::{BufRead, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Etag, Expiry, Flags, Found, Kind, Link, Metadata,
    Mirror, Plan, Registry, Request, Sidecar, Spec, UpstreamKey, Want, safe_component,
};
use crate::error::{Error, Result};
use crate::url::escape;

pub(crate) struct Maven;

const CATALOG: Kind = Kind("catalog");
/// An artifact's `maven-metadata.xml`: read for its versions.
const VERSIONS: Kind = Kind("versions");
/// Group- and snapshot-level metadata, and the sidecars of any metadata.
const METADATA: Kind = Kind("maven-metadata");
const SNAPSHOT: Kind = Kind("snapshot");

static SPEC: Spec = Spec {
    name: "maven",
    upstreams: &[UpstreamKey::one("maven", "https://repo1.maven.org/maven2")],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

/// Checksum and signature sidecars a repository publishes next to every file.
const SIDECARS: &[&str] = &["sha1", "md5", "sha256", "sha512", "asc"];

impl Registry for Maven {
    fn spec(&self) -> &'static Spec {
        &SPEC
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
            segs.iter().map(|s| escape(s)).collect::<Vec<_>>().join("/")
        );
        if dirs.is_empty() {
            if strip_sidecar(file) == "archetype-catalog.xml" {
                return Ok(metadata(path, url, "archetype-catalog".into(), CATALOG));
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
            let (package, kind) = match dirs {
                [group @ .., artifact, v] if !group.is_empty() && v.ends_with("-SNAPSHOT") => {
                    (format!("{}:{artifact}", group.join(".")), METADATA)
                }
                [group @ .., artifact] if !group.is_empty() => {
                    let kind = if *file == "maven-metadata.xml" {
                        VERSIONS
                    } else {
                        METADATA
                    };
                    (format!("{}:{artifact}", group.join(".")), kind)
                }
                _ => (dirs.join("."), METADATA),
            };
            return Ok(metadata(path, url, package, kind));
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
            return Ok(metadata(path, url, name, SNAPSHOT));
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
        // Only main files have a sidecar read first: a sidecar of a sidecar is not something
        // clients ask for. SHA-512 rather than SHA-256: Gradle publishes both, and publishers
        // that trim the optional ones keep the SHA-512 (Gradle reads it), so it is the one most
        // often there.
        let sidecar = (strip_sidecar(file) == *file).then(|| Sidecar {
            url: format!("{url}.sha512"),
            algo: Algo::Sha512,
            entry: None,
        });
        let key = ArtifactKey {
            ecosystem: "maven",
            name,
            version: ver.to_string(),
            filename: file.to_string(),
        };
        let mut artifact = Artifact::new(key, url, content_type(file));
        artifact.sidecars = sidecar.into_iter().collect();
        Ok(Plan::Artifact(artifact))
    }

    /// An artifact's `maven-metadata.xml` passes unchanged; each release it lists is reported
    /// with its POM and jar (and their SHA-1 sidecars, which clients ask for), `release` as the
    /// latest. Snapshots are fetched by timestamped names the version's own metadata gives; a
    /// mirror of releases is what an offline build needs.
    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        _ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        if doc.kind != VERSIONS {
            return super::pass(input, out);
        }
        // The engine caps the body at `metadata_max_size`; the document is small in practice.
        let mut text = String::new();
        input.read_to_string(&mut text)?;
        out.write_all(text.as_bytes())?;
        let Ok((group, artifact)) = split_name(&doc.package) else {
            return Ok(());
        };
        let listed = MetadataXml::parse(&text);
        let dir = format!("{}/{artifact}", group.replace('.', "/"));
        for v in listed
            .versions
            .iter()
            .filter(|v| version(v) && !v.ends_with("-SNAPSHOT"))
        {
            // The POM says whether there is a jar at all (`<packaging>pom</packaging>` has none),
            // but it is not read here; a jar-less release reports a 404 to the mirror.
            for ext in ["pom", "pom.sha1", "jar", "jar.sha1"] {
                let filename = format!("{artifact}-{v}.{ext}");
                found.link(Link {
                    name: doc.package.clone(),
                    version: v.clone(),
                    path: format!("{dir}/{v}/{filename}"),
                    filename,
                    // The route knows each file's URL: a link only tells the mirror it is there.
                    url: String::new(),
                    digest: None,
                    flags: Flags::default(),
                });
            }
        }
        if let Some(release) = listed.release.filter(|r| listed.versions.contains(r)) {
            found.latest(&release);
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let (group, artifact) = split_name(name)?;
        let docs = vec![(
            format!("{}/{artifact}/maven-metadata.xml", group.replace('.', "/")),
            None,
        )];
        Ok(Mirror::docs(name.to_string(), docs, want))
    }
}

fn metadata(key: String, url: String, package: String, kind: Kind) -> Plan {
    let content_type = content_type(&key);
    Plan::Metadata(Metadata {
        ecosystem: "maven",
        kind,
        key,
        url,
        accept: None,
        package,
        content_type,
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
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
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[("maven", "https://up.example/maven2/")];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Maven, path, None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        match p {
            Ok(Plan::Artifact(a)) => format!(
                "art {}@{} {} {} {}",
                a.key.name, a.key.version, a.key.filename, a.url, a.content_type
            ),
            p => testing::show(p, |m| {
                format!("meta {} {} {} {}", m.kind.0, m.package, m.key, m.url)
            }),
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
            "meta versions com.example:lib com/example/lib/maven-metadata.xml \
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
        let sidecar = |f: &str| match plan(&format!("/g/a/1/{f}")) {
            Ok(Plan::Artifact(a)) => a.sidecars,
            _ => panic!("{f} is not an artifact"),
        };
        assert_eq!(
            sidecar("a-1.jar"),
            [Sidecar {
                url: "https://up.example/maven2/g/a/1/a-1.jar.sha512".to_string(),
                algo: Algo::Sha512,
                entry: None,
            }]
        );
        for f in [
            "a-1.jar.sha1",
            "a-1.jar.asc",
            "a-1.pom.sha512",
            "a-1.jar.md5",
        ] {
            assert_eq!(sidecar(f), [], "{f}");
        }
    }

    #[test]
    fn artifact_metadata_reports_releases_and_the_release_pointer() {
        let doc = "<?xml version=\"1.0\"?>\n<metadata><groupId>g.h</groupId><artifactId>a</artifactId>\
            <versioning><latest>2.0-SNAPSHOT</latest><release>1.1</release><versions>\n\
            <version>1.0</version>\n <version> 1.1 </version><version>2.0-SNAPSHOT</version>\
            <version>../x</version></versions></versioning></metadata>";
        let meta = testing::metadata(&Maven, "/g/h/a/maven-metadata.xml", None, UP);
        let (out, found) = testing::rewrite(&Maven, &meta, doc.as_bytes(), UP).unwrap();
        assert_eq!(out, doc);
        assert_eq!(found.latest.as_deref(), Some("1.1"));
        let paths: Vec<&str> = found.links.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "g/h/a/1.0/a-1.0.pom",
                "g/h/a/1.0/a-1.0.pom.sha1",
                "g/h/a/1.0/a-1.0.jar",
                "g/h/a/1.0/a-1.0.jar.sha1",
                "g/h/a/1.1/a-1.1.pom",
                "g/h/a/1.1/a-1.1.pom.sha1",
                "g/h/a/1.1/a-1.1.jar",
                "g/h/a/1.1/a-1.1.jar.sha1"
            ]
        );
        assert!(found.links.iter().all(|l| l.name == "g.h:a"));
        // Group-level metadata and sidecars pass unread.
        let sidecar = testing::metadata(&Maven, "/g/h/a/maven-metadata.xml.sha1", None, UP);
        let (_, found) = testing::rewrite(&Maven, &sidecar, doc.as_bytes(), UP).unwrap();
        assert!(found.links.is_empty());
        assert_eq!(
            Maven.mirror("g.h:a", &Want::Latest).unwrap().docs,
            vec![("g/h/a/maven-metadata.xml".to_string(), None)]
        );
        for bad in ["a", "g:", ":a", "g/../h:a", "g..h:a"] {
            assert!(Maven.mirror(bad, &Want::Latest).is_err(), "{bad}");
        }
    }
}
