//! Maven: repository-layout routes, immutable release files, mutable metadata and snapshots,
//! SHA-512 sidecar verification, `proxy mirror`, and a real `mvn dependency:resolve` through the
//! proxy (twice, the second time with an empty local repository).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const A_DIR: &str = "/com/example/fixture-a/1.0.0";
pub const A_JAR: &str = "/com/example/fixture-a/1.0.0/fixture-a-1.0.0.jar";
const B_JAR: &str = "/com/example/fixture-b/1.0.0/fixture-b-1.0.0.jar";
pub const A_META: &str = "/com/example/fixture-a/maven-metadata.xml";

/// The fixture repository (built by testdata/maven/build.py).
fn repo() -> PathBuf {
    testdata("maven/repo")
}

/// A fixture file by its repository path.
pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(repo().join(path.trim_start_matches('/'))).unwrap()
}

pub fn serve(fake: &Fake) {
    fake.serve_dir("/", &repo());
}

#[test]
fn release_files_are_cached_forever_under_their_coordinates() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let first = p.get(&format!("/maven{A_JAR}"));
    let second = p.get(&format!("/maven{A_JAR}"));
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(first.bytes(), fixture(A_JAR));
    assert_eq!(second.bytes(), fixture(A_JAR));
    assert_eq!(fake.hits(A_JAR), 1);
    assert_eq!(
        fake.hits(&format!("{A_JAR}.sha512")),
        1,
        "sidecar read once"
    );
    // Sidecars are small immutable artifacts of the same version, passed through as they are.
    let sha1 = p.get(&format!("/maven{A_JAR}.sha1"));
    assert_eq!(sha1.bytes(), fixture(&format!("{A_JAR}.sha1")));
    assert_eq!(
        p.get(&format!("/maven{A_JAR}.sha1")).header("x-cache"),
        Some("HIT")
    );
    assert_eq!(fake.hits(&format!("{A_JAR}.sha1")), 1);
    // Without a SHA-512 sidecar upstream the file is stored as it came.
    assert_eq!(p.get(&format!("/maven{B_JAR}")).bytes(), fixture(B_JAR));
    assert_eq!(
        p.files_under("maven/"),
        [
            "maven/com.example:fixture-a/1.0.0/fixture-a-1.0.0.jar",
            "maven/com.example:fixture-a/1.0.0/fixture-a-1.0.0.jar.sha1",
            "maven/com.example:fixture-b/1.0.0/fixture-b-1.0.0.jar",
        ]
    );
    let pom = p.get(&format!("/maven{A_DIR}/fixture-a-1.0.0.pom"));
    assert!(pom.text().contains("<artifactId>fixture-b</artifactId>"));
}

#[test]
fn maven_metadata_is_cached_with_the_ttl() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let doc = p.get(&format!("/maven{A_META}"));
    assert_eq!(doc.status, 200);
    assert_eq!(doc.bytes(), fixture(A_META), "stored byte-identical");
    assert_eq!(p.get(&format!("/maven{A_META}")).bytes(), fixture(A_META));
    assert_eq!(fake.hits(A_META), 1, "served from the cache within the TTL");
    let sha1 = p.get(&format!("/maven{A_META}.sha1"));
    assert_eq!(sha1.bytes(), fixture(&format!("{A_META}.sha1")));
    assert!(
        p.files_under("maven/").is_empty(),
        "metadata is never an artifact"
    );

    // With the TTL over, a new version shows up.
    let fresh = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    assert_eq!(fresh.get(&format!("/maven{A_META}")).status, 200);
    let newer = String::from_utf8(fixture(A_META)).unwrap().replace(
        "<version>1.0.0</version>",
        "<version>1.0.0</version><version>1.1.0</version>",
    );
    fake.put(A_META, Resp::ok("text/xml", newer.clone()));
    assert_eq!(fresh.get(&format!("/maven{A_META}")).text(), newer);
    // Group-level metadata (plugin prefixes) routes too.
    fake.put(
        "/org/example/plugins/maven-metadata.xml",
        Resp::ok("text/xml", "<metadata><plugins/></metadata>"),
    );
    let group = fresh.get("/maven/org/example/plugins/maven-metadata.xml");
    assert_eq!(group.text(), "<metadata><plugins/></metadata>");
}

#[test]
fn snapshots_are_revalidated_never_kept_forever() {
    let fake = Fake::start();
    let dir = "/com/example/snap/1.0-SNAPSHOT";
    let jar = format!("{dir}/snap-1.0-SNAPSHOT.jar");
    let stamped = format!("{dir}/snap-1.0-20240101.120000-1.jar");
    fake.put(&jar, Resp::ok("application/java-archive", "build 1"));
    fake.put(&stamped, Resp::ok("application/java-archive", "stamped"));
    fake.put(
        &format!("{dir}/maven-metadata.xml"),
        Resp::ok("text/xml", "<metadata><versioning/></metadata>"),
    );
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    assert_eq!(p.get(&format!("/maven{jar}")).text(), "build 1");
    fake.put(&jar, Resp::ok("application/java-archive", "build 2"));
    assert_eq!(
        p.get(&format!("/maven{jar}")).text(),
        "build 2",
        "redeployed"
    );
    assert_eq!(p.get(&format!("/maven{stamped}")).text(), "stamped");
    assert_eq!(
        p.get(&format!("/maven{dir}/maven-metadata.xml")).status,
        200
    );
    assert_eq!(fake.hits(&jar), 2);
    assert_eq!(fake.hits(&format!("{jar}.sha512")), 0);
    assert!(p.files_under("maven/").is_empty(), "{:?}", p.files());
}

#[test]
fn a_file_that_does_not_match_its_sha512_sidecar_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let mut wrong = fixture(A_JAR);
    let last = wrong.len() - 1;
    wrong[last] ^= 0xff;
    fake.put(A_JAR, Resp::ok("application/java-archive", wrong));
    let p = TestProxy::start(&fake);
    p.assert_not_cached(&p.get(&format!("/maven{A_JAR}")), |f| {
        f.starts_with("maven/")
    });

    // A sidecar that holds no SHA-512 is an upstream fault, not a reason to skip the check.
    fake.put(A_JAR, Resp::ok("application/java-archive", fixture(A_JAR)));
    fake.put(
        &format!("{A_JAR}.sha512"),
        Resp::ok("text/html", "<html>oops</html>"),
    );
    assert_eq!(p.get(&format!("/maven{A_JAR}")).status, 502);
    assert!(p.files_under("maven/").is_empty());

    // Fixed upstream: fetched again, verified, cached.
    fake.put(
        &format!("{A_JAR}.sha512"),
        Resp::ok("text/plain", fixture(&format!("{A_JAR}.sha512"))),
    );
    assert_eq!(p.get(&format!("/maven{A_JAR}")).bytes(), fixture(A_JAR));
    assert_eq!(fake.hits(A_JAR), 2);
    assert_eq!(p.files_under("maven/").len(), 1);
}

#[test]
fn missing_failing_and_off_layout_requests() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let missing = p.get("/maven/com/example/fixture-a/9.9.9/fixture-a-9.9.9.jar");
    assert_eq!(missing.status, 404);
    assert_eq!(
        p.get("/maven/com/example/nothing/maven-metadata.xml")
            .status,
        404
    );
    fake.put("/com/example/broken/1.0/broken-1.0.jar", Resp::status(500));
    assert_eq!(
        p.get("/maven/com/example/broken/1.0/broken-1.0.jar").status,
        502
    );
    fake.put("/com/example/broken/maven-metadata.xml", Resp::status(500));
    assert_eq!(
        p.get("/maven/com/example/broken/maven-metadata.xml").status,
        502
    );
    // The sidecar's own upstream failure is a gateway error too; nothing is fetched on a guess.
    fake.put(
        "/com/example/half/1.0/half-1.0.jar.sha512",
        Resp::status(503),
    );
    fake.put(
        "/com/example/half/1.0/half-1.0.jar",
        Resp::ok("application/java-archive", "x"),
    );
    assert_eq!(
        p.get("/maven/com/example/half/1.0/half-1.0.jar").status,
        502
    );
    assert_eq!(fake.hits("/com/example/half/1.0/half-1.0.jar"), 0);
    assert!(p.files_under("maven/").is_empty());

    let before = fake.total();
    for bad in [
        "/maven/fixture-a-1.0.0.jar",
        "/maven/com/example/fixture-a/1.0.0/other-1.0.0.jar",
        "/maven/com/example/fixture-a/1.0.0/fixture-a-1.0.1.jar",
        "/maven/com/example/fixture-a/1.0.0",
        "/maven/com/example/fixture-a/%2e%2e/fixture-a-1.0.0.jar",
        "/maven/com/example/..%2f..%2fetc/passwd/1/passwd-1.jar",
        "/maven/com/ex%20ample/fixture-a/1.0.0/fixture-a-1.0.0.jar",
        "/maven/com/example/fixture-a/1.0-SNAPSHOT/fixture-a-2.0-SNAPSHOT.jar",
    ] {
        assert_eq!(p.get(bad).status, 400, "{bad}");
    }
    assert_eq!(
        fake.total(),
        before,
        "an off-layout path reached the upstream"
    );
}

#[test]
fn offline_serves_what_was_cached() {
    let fake = Fake::start();
    serve(&fake);
    let online = TestProxy::start(&fake);
    assert_eq!(online.get(&format!("/maven{A_META}")).status, 200);
    assert_eq!(
        online.get(&format!("/maven{B_JAR}")).bytes(),
        fixture(B_JAR)
    );
    let before = fake.total();
    let p = online.offline();
    assert_eq!(p.get(&format!("/maven{A_META}")).bytes(), fixture(A_META));
    assert_eq!(p.get(&format!("/maven{B_JAR}")).bytes(), fixture(B_JAR));
    p.assert_offline_miss(&format!("/maven{A_JAR}"));
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

#[test]
fn proxy_mirror_fills_the_cache_for_offline_use() {
    let fake = Fake::start();
    serve(&fake);
    let (p, out) = mirror_then_offline(
        &[("PROXY_UPSTREAM_MAVEN", fake.url())],
        &["pkg:maven/com.example/fixture-a@1.0.0"],
    );
    assert!(out.contains("5 file(s) fetched"), "{out}");
    let before = fake.total();
    assert_eq!(p.get(&format!("/maven{A_META}")).bytes(), fixture(A_META));
    for file in [
        "fixture-a-1.0.0.jar",
        "fixture-a-1.0.0.jar.sha1",
        "fixture-a-1.0.0.pom",
    ] {
        let path = format!("{A_DIR}/{file}");
        let got = p.get(&format!("/maven{path}"));
        assert_eq!(got.header("x-cache"), Some("HIT"), "{path}");
        assert_eq!(got.bytes(), fixture(&path));
    }
    assert_eq!(fake.total(), before);
}

/// Debian's Maven repository (libmaven-dependency-plugin-java and junit4 fill it).
const DEBIAN_REPO: &str = "/usr/share/maven-repo";

/// The plugin version Debian packaged under /usr/share/maven-repo (a real version, not the
/// `debian` alias), so the fixture project can pin it; `None` when it has none.
fn debian_plugin_version(artifact: &str) -> Option<String> {
    let dir = Path::new(DEBIAN_REPO)
        .join("org/apache/maven/plugins")
        .join(artifact);
    std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|v| v != "debian" && dir.join(v).join(format!("{artifact}-{v}.jar")).exists())
        .max()
}

/// The real Maven, twice: the second run, with an empty local repository, gets every file from
/// the proxy's cache. Maven's own plugin and its dependencies come from Debian's
/// /usr/share/maven-repo, served by the fake upstream beside the fixture repository.
#[test]
fn real_mvn_dependency_resolve_twice() {
    let plugin = debian_plugin_version("maven-dependency-plugin");
    let junit = Path::new(DEBIAN_REPO).join("junit/junit").is_dir();
    if !client("mvn")
        || !installed(
            "libmaven-dependency-plugin-java and junit4",
            plugin.is_some() && junit,
        )
    {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    fake.serve_dir("/", Path::new(DEBIAN_REPO));
    let p = TestProxy::start(&fake);
    let work = TempDir::new("mvn");
    let project = work.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let plugin = plugin.unwrap();
    std::fs::write(
        project.join("pom.xml"),
        format!(
            r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>app</artifactId>
  <version>1.0.0</version>
  <dependencies>
    <dependency>
      <groupId>com.example</groupId>
      <artifactId>fixture-a</artifactId>
      <version>[1.0.0,2.0.0)</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{plugin}</version>
      </plugin>
    </plugins>
  </build>
</project>
"#
        ),
    )
    .unwrap();
    let settings = work.path().join("settings.xml");
    std::fs::write(
        &settings,
        format!(
            "<settings>\n  <mirrors>\n    <mirror>\n      <id>proxy</id>\n      <mirrorOf>*</mirrorOf>\n      \
             <url>{}/maven/</url>\n    </mirror>\n  </mirrors>\n</settings>\n",
            p.base
        ),
    )
    .unwrap();
    let resolve = |local: &str| {
        // Maven's log goes to a file: it is long (a stack trace per missing checksum), and
        // `run` reads the pipes only once the process has ended.
        let log = work.path().join(format!("{local}.log"));
        let (ok, out) = run(
            Command::new("mvn")
                .args(["-B", "-l"])
                .arg(&log)
                .arg("-s")
                .arg(&settings)
                .arg("-gs")
                .arg(&settings)
                .arg(format!(
                    "-Dmaven.repo.local={}",
                    work.path().join(local).display()
                ))
                .arg("dependency:resolve")
                .current_dir(&project)
                .env_remove("MAVEN_OPTS")
                .env_remove("MAVEN_ARGS")
                .env_remove("MAVEN_CONFIG"),
            Duration::from_secs(300),
        );
        let out = out + &std::fs::read_to_string(&log).unwrap_or_default();
        assert!(ok, "mvn dependency:resolve failed:\n{out}");
        assert!(out.contains("com.example:fixture-b:jar:1.0.0"), "{out}");
        let jar = work
            .path()
            .join(local)
            .join("com/example/fixture-a/1.0.0/fixture-a-1.0.0.jar");
        assert_eq!(std::fs::read(jar).unwrap(), fixture(A_JAR));
    };
    // Debian's repository has no checksum files; Maven asks for them each time, and a 404 is
    // not cached. Nothing else may reach the upstream the second time.
    let debian_sidecar = |path: &str| {
        (path.ends_with(".sha1") || path.ends_with(".md5")) && !path.starts_with("/com/example/")
    };
    twice(
        &fake,
        |path| !debian_sidecar(path),
        |n| resolve(&format!("repo-{n}")),
    );
    assert_eq!(fake.hits(A_META), 1, "the version range read the metadata");
    assert_eq!(fake.hits(&format!("{A_JAR}.sha512")), 1, "a was verified");
}
