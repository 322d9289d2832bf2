//! Arch Linux (pacman): sync databases relayed byte-identical and revalidated by date, packages
//! verified against `%SHA256SUM%` (an epoch's `:` in the file name included) and signatures
//! against `%PGPSIG%`, ranges and conditional requests on packages, packages held from eviction
//! while the stored database names them, and the real pacman through the proxy: twice, with
//! the upstream down, and offline from a bundle mirrored from `pacman -Sp`'s list.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

pub const DIR: &str = "testrepo/os/x86_64";
pub const HELLO: &str = "hello-proxy-1.0.0-1-x86_64.pkg.tar.zst";
pub const EPOCH: &str = "fixture-epoch-1:0.47-1-any.pkg.tar.zst";
const LAST_MODIFIED: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
const FILES: &[&str] = &[
    "testrepo.db",
    "testrepo.db.tar.gz",
    "testrepo.files",
    "testrepo.files.tar.gz",
    HELLO,
    "hello-proxy-1.0.0-1-x86_64.pkg.tar.zst.sig",
    EPOCH,
    "fixture-epoch-1:0.47-1-any.pkg.tar.zst.sig",
];

pub fn fixture(file: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("arch/repo/{DIR}/{file}"))).unwrap()
}

/// What a mirror sends for a file: the bytes with validators.
fn resp(body: Vec<u8>) -> Resp {
    let etag = format!("\"{}\"", &sha256_hex(&body)[..16]);
    Resp::ok("application/octet-stream", body)
        .header("ETag", &etag)
        .header("Last-Modified", LAST_MODIFIED)
}

/// Serves the fixture repository (testdata/arch/build.sh) as an Arch mirror would.
pub fn serve(fake: &Fake) {
    for f in FILES {
        fake.put(&format!("/{DIR}/{f}"), resp(fixture(f)));
    }
}

fn is_package(path: &str) -> bool {
    path.contains(".pkg.tar")
}

fn arch(file: &str) -> String {
    format!("/arch/{DIR}/{file}")
}

#[test]
fn databases_pass_through_byte_identical_and_revalidate_by_date() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    for f in ["testrepo.db", "testrepo.files"] {
        let got = p.get(&arch(f));
        assert_eq!(got.status, 200, "{f}");
        assert_eq!(got.bytes(), fixture(f), "{f} changed on its way");
        // The upstream's date, which pacman keeps as its copy's time and sends back.
        assert_eq!(got.header("last-modified"), Some(LAST_MODIFIED));
        let again = p.get_with(&arch(f), &[("If-Modified-Since", LAST_MODIFIED)]);
        assert_eq!(again.status, 304, "{f}");
        assert_eq!(fake.hits(&format!("/{DIR}/{f}")), 1, "{f}");
    }
    // No signed database upstream: pacman's `DatabaseOptional` takes the 404.
    assert_eq!(p.get(&arch("testrepo.db.sig")).status, 404);
    // Past its TTL, the proxy revalidates with the upstream's ETag; a client's date still holds.
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    p.get(&arch("testrepo.db"));
    let again = p.get_with(
        &arch("testrepo.db"),
        &[("If-Modified-Since", LAST_MODIFIED)],
    );
    assert_eq!(
        (again.status, again.header("x-cache")),
        (304, Some("REVALIDATED"))
    );
    let last = fake.seen().into_iter().last().unwrap();
    assert!(last.header("if-none-match").is_some(), "{last:?}");
}

#[test]
fn packages_with_an_epoch_are_verified_cached_and_served_in_ranges() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    assert_eq!(p.get(&arch("testrepo.db")).status, 200);
    let body = fixture(EPOCH);
    let first = p.get(&arch(EPOCH));
    assert_eq!((first.status, first.header("x-cache")), (200, Some("MISS")));
    assert_eq!(first.bytes(), body);
    // The `:` went upstream as pacman sends it; `%3A` is the same file.
    assert_eq!(fake.hits(&format!("/{DIR}/{EPOCH}")), 1);
    let escaped = p.get(&arch(&EPOCH.replace(':', "%3A")));
    assert_eq!(
        (escaped.status, escaped.header("x-cache")),
        (200, Some("HIT"))
    );
    p.assert_stored(&format!("arch/{DIR}/fixture-epoch/1:0.47-1/{EPOCH}"));
    // pacman resumes a `.part` with a range.
    let part = p.get_with(&arch(EPOCH), &[("Range", "bytes=100-")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes(), &body[100..]);
    let etag = escaped.header("etag").unwrap().to_string();
    let same = p.get_with(&arch(EPOCH), &[("If-None-Match", &etag)]);
    assert_eq!(same.status, 304);
    let head = request("HEAD", &p.url(&arch(EPOCH)), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    // A range of a package not cached yet is answered once it is whole.
    let sig = "hello-proxy-1.0.0-1-x86_64.pkg.tar.zst.sig";
    let part = p.get_with(&arch(sig), &[("Range", "bytes=0-9")]);
    assert_eq!((part.status, part.bytes()), (206, &fixture(sig)[..10]));
    assert_eq!(fake.hits(&format!("/{DIR}/{EPOCH}")), 1);
}

#[test]
fn packages_and_signatures_that_are_not_the_ones_the_database_names_are_refused() {
    refused_unless_named(None);
}

/// The same with the database zstd-compressed (`repo-add testrepo.db.tar.zst`).
#[test]
fn a_zstd_database_is_read_too() {
    refused_unless_named(Some(
        std::fs::read(testdata("arch/zst/testrepo.db")).unwrap(),
    ));
}

fn refused_unless_named(db: Option<Vec<u8>>) {
    let fake = Fake::start();
    serve(&fake);
    let db = db.unwrap_or_else(|| fixture("testrepo.db"));
    fake.put(&format!("/{DIR}/testrepo.db"), resp(db.clone()));
    let sig = "hello-proxy-1.0.0-1-x86_64.pkg.tar.zst.sig";
    let mut bad = fixture(HELLO);
    let n = bad.len() - 10;
    bad[n] ^= 1;
    fake.put(&format!("/{DIR}/{HELLO}"), resp(bad));
    fake.put(
        &format!("/{DIR}/{sig}"),
        resp(b"not this signature".to_vec()),
    );
    let p = TestProxy::start(&fake);
    assert_eq!(p.get(&arch("testrepo.db")).bytes(), db);
    for f in [HELLO, sig] {
        let got = p.get(&arch(f));
        p.assert_not_cached(&got, |s| s.ends_with(f));
    }
    // The upstream repairs it: fetched again, verified, stored.
    for f in [HELLO, sig] {
        fake.put(&format!("/{DIR}/{f}"), resp(fixture(f)));
    }
    assert_eq!(p.get(&arch(HELLO)).bytes(), fixture(HELLO));
    assert_eq!(p.get(&arch(HELLO)).header("x-cache"), Some("HIT"));
}

#[test]
fn held_packages_stay_until_the_database_drops_them() {
    let fake = Fake::start();
    serve(&fake);
    // Every fill evicts what it may: only held packages stay.
    let p = TestProxy::with(&fake, |c| {
        c.max_size = 1;
        c.metadata_ttl = Duration::ZERO;
    });
    assert_eq!(p.get(&arch("testrepo.db")).status, 200);
    for f in [HELLO, EPOCH] {
        assert_eq!(p.get(&arch(f)).status, 200, "{f}");
    }
    let stored = |p: &TestProxy| -> Vec<String> {
        p.files_under("arch")
            .into_iter()
            .filter(|f| f.ends_with(".zst"))
            .collect()
    };
    assert_eq!(stored(&p).len(), 2, "{:?}", stored(&p));
    // Upstream, fixture-epoch is gone from the database (and would be from the mirror).
    fake.put(
        &format!("/{DIR}/testrepo.db"),
        resp(std::fs::read(testdata("arch/next/testrepo.db")).unwrap()),
    );
    assert_eq!(p.get(&arch("testrepo.db")).status, 200);
    // The next fill evicts what the stored database no longer names.
    assert_eq!(
        p.get(&arch("fixture-epoch-1:0.47-1-any.pkg.tar.zst.sig"))
            .status,
        200
    );
    eventually("fixture-epoch evicted", || stored(&p).len() == 1);
    assert!(stored(&p)[0].ends_with(HELLO), "{:?}", stored(&p));
}

/// A private pacman setup under `dir`: configuration, keyring trusting the fixtures' packager,
/// and (fresh for each run) root, database and cache directories.
pub struct Pacman {
    dir: PathBuf,
    conf: PathBuf,
    gpg: PathBuf,
}

impl Pacman {
    /// pacman pointed at `server` (`…/$arch` as in a mirrorlist), with `SigLevel` as Arch ships
    /// it: packages must carry a signature of a trusted key, databases may.
    pub fn new(dir: &Path, server: &str) -> Pacman {
        let gpg = dir.join("gnupg");
        std::fs::create_dir_all(&gpg).unwrap();
        let key = testdata("arch/keys/packager.asc");
        let gpg_run = |args: &[&str], input: Option<&str>| {
            let mut c = Command::new("gpg");
            c.arg("--homedir").arg(&gpg).arg("--batch").args(args);
            if let Some(text) = input {
                let file = dir.join("gpg-input");
                std::fs::write(&file, text).unwrap();
                c.arg(&file);
            }
            let (ok, out) = run(&mut c, Duration::from_secs(60));
            assert!(ok, "gpg {args:?}: {out}");
            out
        };
        gpg_run(&["--import", key.to_str().unwrap()], None);
        let listing = gpg_run(&["--with-colons", "--list-keys"], None);
        let fpr = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .expect("the packager key's fingerprint");
        // Trusted as `pacman-key --lsign-key` would make it, without a local master key.
        gpg_run(&["--import-ownertrust"], Some(&format!("{fpr}:6:\n")));
        let conf = dir.join("pacman.conf");
        std::fs::write(
            &conf,
            format!(
                "[options]\nArchitecture = x86_64\nSigLevel = Required DatabaseOptional\n\
                 LocalFileSigLevel = Optional\n\n[testrepo]\nServer = {server}\n"
            ),
        )
        .unwrap();
        Pacman {
            dir: dir.to_path_buf(),
            conf,
            gpg,
        }
    }

    /// Runs pacman with run `n`'s own root, database and cache; `(success, output)`.
    pub fn run(&self, n: usize, args: &[&str]) -> (bool, String) {
        let root = self.dir.join(format!("root-{n}"));
        let db = root.join("var/lib/pacman");
        let cache = self.dir.join(format!("cache-{n}"));
        for d in [&db, &cache] {
            std::fs::create_dir_all(d).unwrap();
        }
        let mut c = Command::new("pacman");
        c.arg("--config")
            .arg(&self.conf)
            .arg("--root")
            .arg(&root)
            .arg("--dbpath")
            .arg(&db)
            .arg("--cachedir")
            .arg(&cache)
            .arg("--gpgdir")
            .arg(&self.gpg)
            .arg("--logfile")
            .arg(root.join("pacman.log"))
            .arg("--noconfirm")
            .arg("--noprogressbar")
            .args(args)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost");
        run(&mut c, Duration::from_secs(120))
    }

    /// `pacman -Sy`, then `-Sw hello-proxy` (which needs fixture-epoch); asserts both packages
    /// are in run `n`'s cache, as pacman checked them (signature and checksum).
    pub fn sync_and_download(&self, n: usize) -> String {
        let (ok, sync) = self.run(n, &["-Sy"]);
        assert!(ok, "pacman -Sy failed:\n{sync}");
        let (ok, out) = self.run(n, &["-Sw", "hello-proxy"]);
        assert!(ok, "pacman -Sw failed:\n{sync}\n{out}");
        let cache = self.dir.join(format!("cache-{n}"));
        for f in [HELLO, EPOCH] {
            assert_eq!(
                std::fs::read(cache.join(f)).ok(),
                Some(fixture(f)),
                "{f} not in pacman's cache:\n{out}"
            );
        }
        assert!(!out.contains("error"), "{out}");
        sync + &out
    }
}

/// Whether pacman can run here: installed, and as root (it refuses to sync otherwise).
pub fn pacman_usable() -> bool {
    if !clients(&["pacman", "gpg"]) {
        return false;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    installed("pacman (tests run it as root)", root)
}

/// The real client, twice (the second run with an empty pacman cache gets every package from
/// the proxy's), then with the upstream gone.
#[test]
fn real_pacman_twice_then_with_the_upstream_down() {
    if !pacman_usable() {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    let work = TempDir::new("pacman");
    let pacman = Pacman::new(work.path(), &p.url("/arch/testrepo/os/$arch"));
    let mut fetched = twice(&fake, is_package, |n| {
        pacman.sync_and_download(n);
    });
    fetched.sort();
    let want: Vec<String> = [
        EPOCH,
        "fixture-epoch-1:0.47-1-any.pkg.tar.zst.sig",
        HELLO,
        "hello-proxy-1.0.0-1-x86_64.pkg.tar.zst.sig",
    ]
    .iter()
    .map(|f| format!("/{DIR}/{f}"))
    .collect();
    assert_eq!(fetched, want);
    // pacman asked for the database's signature; there is none (404), and it carried on.
    assert!(fake.hits(&format!("/{DIR}/testrepo.db.sig")) >= 1);

    // The upstream fails: the database is served stale, the packages from the cache.
    for f in FILES.iter().chain(&["testrepo.db.sig"]) {
        fake.put(&format!("/{DIR}/{f}"), Resp::status(502));
    }
    let out = pacman.sync_and_download(3);
    assert!(!out.contains("error"), "{out}");
}

/// On a connected machine, `pacman -Sp` lists what to fetch; `proxy mirror` reads that list,
/// `proxy export` carries it, `proxy import` puts it in an empty cache, and pacman syncs and
/// downloads from an offline proxy serving only that.
#[test]
fn mirror_from_pacman_list_then_offline_from_an_imported_bundle() {
    mirror_then_pacman_offline(None);
}

/// The same with a database that embeds no signatures (as pacman 6.1's repo-add writes them):
/// pacman fetches each package's `.sig`, so the mirror must have fetched it too.
#[test]
fn mirror_then_offline_when_the_database_embeds_no_signatures() {
    mirror_then_pacman_offline(Some(
        std::fs::read(testdata("arch/nosig/testrepo.db")).unwrap(),
    ));
}

fn mirror_then_pacman_offline(db: Option<Vec<u8>>) {
    if !pacman_usable() {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    if let Some(db) = db {
        fake.put(&format!("/{DIR}/testrepo.db"), resp(db));
    }
    let work = TempDir::new("pacman-offline");
    let w = work.path();
    // The connected machine's pacman talks to the mirror itself.
    let connected = Pacman::new(&w.join("connected"), &format!("{}/{DIR}", fake.url()));
    let (ok, out) = connected.run(0, &["-Sy"]);
    assert!(ok, "{out}");
    let (ok, list) = connected.run(0, &["-Sp", "hello-proxy"]);
    assert!(ok, "{list}");
    assert!(list.contains(&format!("/{DIR}/{EPOCH}")), "{list}");
    let list_file = w.join("pacman-urls.txt");
    std::fs::write(&list_file, &list).unwrap();

    // Mirrored from the list, exported by it, imported; the imported cache passes `-check`.
    let (p, _) = bundle_then_offline(
        &[("PROXY_UPSTREAM_ARCH", fake.url())],
        &[list_file.to_str().unwrap()],
    );
    let mut fetched = fake.paths(|p| is_package(p) && !p.ends_with(".sig"));
    fetched.sort();
    fetched.dedup();
    assert_eq!(
        fetched,
        [format!("/{DIR}/{EPOCH}"), format!("/{DIR}/{HELLO}")]
    );
    let before = fake.total();
    let pacman = Pacman::new(&w.join("airgapped"), &p.url("/arch/testrepo/os/$arch"));
    pacman.sync_and_download(1);
    assert_eq!(fake.total(), before, "the offline proxy went upstream");
}
