//! The `proxy` binary as a user runs it: help, version, configuration errors, stats, signals.

use std::process::Command;
use std::time::Duration;

use crate::npm;
use crate::support::*;

#[test]
fn help_and_version() {
    let (code, out) = exec(proxy_bin().arg("--help"));
    assert_eq!(code, 0);
    for flag in [
        "-listen",
        "-base-url",
        "-storage",
        "-database",
        "-log-level",
        "-log-format",
        "-config",
        "-offline",
        "storage.max_size",
        "metadata_ttl",
    ] {
        assert!(out.contains(flag), "--help lacks {flag}:\n{out}");
    }
    let (code, out) = exec(proxy_bin().args(["stats", "-help"]));
    assert_eq!(code, 0);
    assert!(out.contains("-popular") && out.contains("-json"), "{out}");
    let (code, out) = exec(proxy_bin().arg("-version"));
    assert_eq!(code, 0);
    assert!(out.starts_with("proxy "), "{out}");
}

/// `proxy --help | head -0`: a reader gone before the output is written ends the command as a
/// shell expects of SIGPIPE, without a panic's message.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = proxy_bin().arg("--help").stdout(writer).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn configuration_errors_name_what_is_wrong_and_exit_2() {
    let dir = TempDir::new("cli-config");
    let file = dir.path().join("config.yaml");
    // (config file, flags, environment, what the error must mention)
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, Vec<String>);
    let cases: Vec<Case<'_>> = vec![
        (
            "storage:\n  pth: /tmp/x\n",
            vec![],
            vec![],
            vec!["storage.pth".into(), "no such setting".into()],
        ),
        (
            "storage:\n  max_size: 10XB\n",
            vec![],
            vec![],
            vec!["storage.max_size".into(), "10XB".into()],
        ),
        (
            "upstream:\n  npm: \"not a url\"\n",
            vec![],
            vec![],
            vec!["upstream.npm".into(), "not a url".into()],
        ),
        ("listen: [1, 2]\n", vec![], vec![], vec!["listen".into()]),
        (
            "",
            vec![],
            vec![("PROXY_STORAGE_MAX_SIZE", "10XB")],
            vec!["PROXY_STORAGE_MAX_SIZE".into(), "10XB".into()],
        ),
        (
            "",
            vec!["-base-url", "ftp://x"],
            vec![],
            vec!["-base-url".into(), "ftp://x".into()],
        ),
        (
            "",
            vec!["-log-level", "loud"],
            vec![],
            vec!["log.level".into(), "loud".into()],
        ),
        ("", vec!["-listen", "nope"], vec![], vec!["listen".into()]),
    ];
    for (yaml, args, env, wants) in cases {
        std::fs::write(&file, yaml).unwrap();
        let mut c = proxy_bin();
        c.arg("-config")
            .arg(&file)
            .args(&args)
            .arg("-storage")
            .arg(dir.path().join("s"));
        c.arg("-database").arg(dir.path().join("db"));
        for (k, v) in env {
            c.env(k, v);
        }
        let (code, out) = exec(&mut c);
        assert_eq!(code, 2, "{yaml:?} {args:?}: {out}");
        for w in wants {
            assert!(
                out.contains(&w),
                "{yaml:?} {args:?}: error lacks {w:?}: {out}"
            );
        }
        if !yaml.is_empty() && args.is_empty() {
            assert!(
                out.contains("config.yaml"),
                "error does not name the file: {out}"
            );
        }
    }
}

#[test]
fn json_config_files_work_too() {
    let dir = TempDir::new("cli-json");
    let file = dir.path().join("c.json");
    std::fs::write(&file, r#"{"storage": {"max_size": "10XB"}}"#).unwrap();
    let (code, out) = exec(proxy_bin().arg("-config").arg(&file));
    assert_eq!(code, 2);
    assert!(
        out.contains("c.json") && out.contains("storage.max_size"),
        "{out}"
    );
}

#[test]
fn an_error_and_its_cause_are_printed_once() {
    // An I/O error's message already ends with the OS's reason: it must not be repeated as a
    // "caused by" line.
    let dir = TempDir::new("cli-once");
    let missing = dir.path().join("no-such-config.yaml");
    let reason = std::fs::read(&missing).unwrap_err().to_string();
    let (code, out) = exec(proxy_bin().arg("-config").arg(&missing));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("no-such-config.yaml"), "{out}");
    assert_eq!(out.matches(&reason).count(), 1, "{reason:?} twice: {out}");
    assert!(!out.contains("caused by"), "{out}");
}

#[test]
fn unusable_listen_address_or_storage_exit_2() {
    let dir = TempDir::new("cli-start");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, out) = exec(
        proxy_bin()
            .args(["-listen", &addr])
            .arg("-storage")
            .arg(dir.path().join("s"))
            .arg("-database")
            .arg(dir.path().join("db")),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&addr), "{out}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, out) = exec(
        proxy_bin()
            .args(["-listen", "127.0.0.1:0"])
            .arg("-storage")
            .arg(file.join("sub"))
            .arg("-database")
            .arg(dir.path().join("db")),
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("storage.path") && out.contains("a-file"),
        "{out}"
    );
}

#[test]
fn stats_output_text_and_json() {
    let fake = Fake::start();
    npm::serve(&fake);
    let mut p = TestProxy::start(&fake);
    for f in npm::FIXTURES {
        p.get(&format!("/npm{}", npm::tarball_path(f)));
    }
    p.get(&format!("/npm{}", npm::tarball_path(&npm::FIXTURES[0])));
    // Two documents: metadata counts beside the artifacts.
    assert_eq!(p.get("/npm/proxy-fixture-a").status, 200);
    assert_eq!(p.get("/npm/proxy-fixture-b").status, 200);
    let docs = p.files_under("_metadata/");
    let meta_bytes: u64 = docs
        .iter()
        .map(|f| std::fs::metadata(p.storage().join(f)).unwrap().len())
        .sum();
    p.stop();
    let db = p.dir.path().join("proxy.db");
    let (code, out) = exec(
        proxy_bin()
            .args(["stats", "-popular", "20", "-database"])
            .arg(&db),
    );
    assert_eq!(code, 0, "{out}");
    let metadata_line = format!("Metadata:   {} document(s) (", docs.len());
    for want in [
        "Cache Statistics",
        "Packages:   3",
        "Versions:   4",
        "Artifacts:  4 (",
        &metadata_line,
        "Total size: ",
        "Total hits: 1",
        "npm        3",
        "1. npm/proxy-fixture-a (1 hits",
        "Recently cached:",
    ] {
        assert!(out.contains(want), "stats lacks {want:?}:\n{out}");
    }
    let (code, out) = exec(proxy_bin().args(["stats", "-json", "--database"]).arg(&db));
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["artifacts"], 4);
    assert_eq!(v["by_ecosystem"]["npm"], 3);
    assert_eq!(v["metadata_documents"], docs.len());
    assert_eq!(v["metadata_size_bytes"], meta_bytes);
    let artifact_bytes = v["total_size_bytes"].as_u64().unwrap();
    assert_eq!(v["disk_size_bytes"], artifact_bytes + meta_bytes);
    // The same recent list as the text form (five at most by default).
    let recent = v["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 4, "{v}");
    assert!(recent[0]["name"].is_string() && recent[0]["size"].is_u64());
    let (_, out) = exec(
        proxy_bin()
            .args(["stats", "-json", "-recent", "0", "--database"])
            .arg(&db),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["recent"], serde_json::json!([]));
    let (code, out) = exec(
        proxy_bin()
            .args(["stats", "-database"])
            .arg(p.dir.path().join("missing.db")),
    );
    assert_eq!(code, 1);
    assert!(out.contains("missing.db"), "{out}");
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_0() {
    let fake = Fake::start();
    let body = vec![7u8; 100_000];
    fake.put(
        "/slow/-/slow-1.0.0.tgz",
        Resp::ok("application/octet-stream", body.clone())
            .fault(Fault::Delay(Duration::from_millis(800))),
    );
    let dir = TempDir::new("cli-signal");
    let port = free_port();
    let mut child = proxy_bin()
        .args(["-listen", &format!("127.0.0.1:{port}")])
        .arg("-storage")
        .arg(dir.path().join("s"))
        .arg("-database")
        .arg(dir.path().join("db"))
        .env("PROXY_UPSTREAM_NPM", fake.url())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    eventually("the proxy to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let url = format!("{base}/npm/slow/-/slow-1.0.0.tgz");
    let inflight = std::thread::spawn(move || get(&url, &[]));
    // In flight: the proxy has asked the upstream, which answers 800 ms later.
    eventually("the request to reach the upstream", || {
        fake.hits("/slow/-/slow-1.0.0.tgz") == 1
    });
    // The shell's own `kill`: procps (/bin/kill) is not on every machine.
    let (ok, out) = run(
        Command::new("sh").args(["-c", &format!("kill -TERM {}", child.id())]),
        Duration::from_secs(5),
    );
    assert!(ok, "{out}");
    let got = inflight.join().unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.bytes(), body);
    eventually("the proxy to exit", || child.try_wait().unwrap().is_some());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let tmp = std::fs::read_dir(dir.path().join("s/.tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "temp files left behind");
}

/// Upstream traffic goes through `HTTP_PROXY` when it is set (and never to the upstream host
/// directly, which here does not even resolve).
#[test]
fn upstream_requests_honour_http_proxy_bin() {
    let forward = Fake::start();
    let doc = npm::packument("http://registry.invalid", "proxy-fixture-b").to_string();
    forward.put("/proxy-fixture-b", Resp::ok("application/json", doc));
    let dir = TempDir::new("cli-http-proxy");
    let (code, out) = exec(
        proxy_bin()
            .args(["mirror", "-dry-run", "pkg:npm/x@1"])
            .arg("-storage")
            .arg(dir.path().join("s"))
            .arg("-database")
            .arg(dir.path().join("db")),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = exec(
        proxy_bin()
            .args(["mirror", "pkg:npm/proxy-fixture-b@1.0.0"])
            .arg("-storage")
            .arg(dir.path().join("s"))
            .arg("-database")
            .arg(dir.path().join("db"))
            .env("PROXY_UPSTREAM_NPM", "http://registry.invalid")
            .env("HTTP_PROXY", forward.url())
            .env("http_proxy", forward.url())
            .env_remove("NO_PROXY")
            .env_remove("no_proxy"),
    );
    // Both requests were tunnelled through the forward proxy: the packument (found) and the
    // tarball (not there: 404, so the mirror reports a failure).
    assert!(
        forward.hits("registry.invalid:80") >= 2,
        "{:?}\n{out}",
        forward.seen()
    );
    assert_eq!(
        forward.hits("/proxy-fixture-b"),
        1,
        "the full packument (the abbreviated one is made from it): {out}"
    );
    assert_eq!(
        forward.hits("/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz"),
        1,
        "{out}"
    );
    assert_eq!(code, 1, "{out}");
}

/// Upstream TLS trusts `http.ca_file` on top of the system store: a server with a certificate
/// from a private CA is reachable with it and refused without it.
#[test]
fn upstream_tls_trusts_the_configured_ca_file() {
    if !clients(&["openssl", "python3"]) {
        return;
    }
    let dir = TempDir::new("cli-tls");
    let d = dir.path();
    let sh = |script: &str| {
        let (ok, out) = run(
            Command::new("sh").arg("-c").arg(script).current_dir(d),
            Duration::from_secs(60),
        );
        assert!(ok, "{script}: {out}");
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null",
    );
    sh(
        "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null",
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    sh(
        "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf 2>/dev/null",
    );
    let doc = npm::packument("https://127.0.0.1", "proxy-fixture-b").to_string();
    std::fs::create_dir_all(d.join("www")).unwrap();
    std::fs::write(d.join("www/proxy-fixture-b"), doc).unwrap();
    let port = free_port();
    let server = format!(
        "import http.server, ssl, functools\n\
         h = functools.partial(http.server.SimpleHTTPRequestHandler, directory='www')\n\
         s = http.server.ThreadingHTTPServer(('127.0.0.1', {port}), h)\n\
         c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('srv.pem', 'srv.key')\n\
         s.socket = c.wrap_socket(s.socket, server_side=True)\n\
         s.serve_forever()\n"
    );
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(server)
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the TLS server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mirror = |ca: Option<&str>| {
        let mut c = proxy_bin();
        c.args(["mirror", "pkg:npm/proxy-fixture-b@1.0.0"])
            .arg("-storage")
            .arg(d.join(format!("s-{}", ca.is_some())))
            .arg("-database")
            .arg(d.join(format!("db-{}", ca.is_some())))
            .env("PROXY_UPSTREAM_NPM", format!("https://127.0.0.1:{port}"))
            .env("SSL_CERT_FILE", "/nonexistent");
        if let Some(ca) = ca {
            c.env("PROXY_HTTP_CA_FILE", d.join(ca));
        }
        exec(&mut c).1
    };
    let without = mirror(None);
    let with = mirror(Some("ca.pem"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !without.contains("/npm/proxy-fixture-b: answered")
            && without.contains("/npm/proxy-fixture-b:"),
        "{without}"
    );
    // With the CA the packument is fetched; only the tarball (not served) fails.
    assert!(
        !with.contains("/npm/proxy-fixture-b: "),
        "the document failed with the CA: {with}"
    );
    assert!(with.contains("proxy-fixture-b-1.0.0.tgz"), "{with}");
}

#[test]
fn health_asks_a_running_proxy_and_exits_0_or_1() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    let addr = p.base.strip_prefix("http://").unwrap();
    // By URL, by -listen (as serve takes it) and by PROXY_LISTEN, as the image's check does.
    for (args, env) in [
        (vec!["health", p.base.as_str()], None),
        (vec!["health", "-listen", addr], None),
        (vec!["health"], Some(addr)),
    ] {
        let mut c = proxy_bin();
        c.args(&args);
        if let Some(listen) = env {
            c.env("PROXY_LISTEN", listen);
        }
        let (code, out) = exec(&mut c);
        assert_eq!(code, 0, "{args:?}: {out}");
        assert_eq!(
            out.trim(),
            format!("ok: http://{addr}/health answered 200"),
            "{args:?}"
        );
    }

    // An unhealthy answer is passed on with its body, on one line.
    fake.put(
        "/health",
        Resp {
            status: 503,
            body: b"{\"status\":\"error\",\n\"checks\":{}}".to_vec(),
            ..Resp::default()
        },
    );
    let (code, out) = exec(proxy_bin().args(["health", &fake.url()]));
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.trim(),
        format!(
            "unhealthy: {}/health answered 503 {{\"status\":\"error\", \"checks\":{{}}}}",
            fake.url()
        )
    );

    // Nothing listening, and a server that never answers: exit 1 with the reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let (code, out) = exec(proxy_bin().args(["health", "-listen", &closed_addr.to_string()]));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!("unhealthy: http://{closed_addr}/health: "))
            && out.contains("refused"),
        "{out}"
    );
    fake.put(
        "/slow",
        Resp::status(200).fault(Fault::Delay(Duration::from_secs(10))),
    );
    let (code, out) = exec(proxy_bin().args([
        "health",
        "-timeout",
        "300ms",
        &format!("{}/slow", fake.url()),
    ]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no answer within 300ms"), "{out}");

    // A URL the probe cannot ask is a usage error.
    let (code, out) = exec(proxy_bin().args(["health", "https://proxy.example"]));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("plain HTTP"), "{out}");
}

/// `proxy verify` finds damaged files by re-hashing them, and `-repair` removes them so they
/// are fetched again.
#[test]
fn verify_finds_damaged_files_and_repair_removes_them() {
    let fake = Fake::start();
    crate::npm::serve(&fake);
    let mut p = TestProxy::start(&fake);
    let tarballs: Vec<String> = crate::npm::FIXTURES
        .iter()
        .map(|f| format!("/npm{}", crate::npm::tarball_path(f)))
        .collect();
    for t in &tarballs {
        assert_eq!(p.get(t).status, 200, "{t}");
    }
    p.stop();
    let files = p.files_under("npm/");
    assert!(files.len() >= 3, "{files:?}");
    // Same size, one byte flipped; cut short; gone.
    let flip = p.storage().join(&files[0]);
    let mut bytes = std::fs::read(&flip).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&flip, &bytes).unwrap();
    let cut = p.storage().join(&files[1]);
    let len = std::fs::metadata(&cut).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    std::fs::remove_file(p.storage().join(&files[2])).unwrap();
    let verify = |extra: &[&str]| {
        exec(
            proxy_bin()
                .arg("verify")
                .args(extra)
                .arg("-storage")
                .arg(p.storage())
                .arg("-database")
                .arg(p.dir.path().join("proxy.db")),
        )
    };
    let (code, out) = verify(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("3 damaged"), "{out}");
    for f in &files[..3] {
        assert!(out.contains(f.as_str()), "{f} in {out}");
    }
    assert!(out.contains("sha256"), "{out}");
    assert!(out.contains("missing"), "{out}");
    let (code, out) = verify(&["-repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(!p.storage().join(&files[0]).exists());
    let (code, out) = verify(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 damaged"), "{out}");
    // A restarted proxy fetches the removed files again, whole.
    let p = p.restart(|_| {});
    for (t, f) in tarballs.iter().zip(crate::npm::FIXTURES) {
        assert_eq!(p.get(t).bytes(), crate::npm::tarball(f), "{t}");
    }
}

/// With `verify_rate`, the server finds a damaged file by itself and removes it.
#[test]
fn the_background_check_removes_a_damaged_file() {
    let fake = Fake::start();
    crate::npm::serve(&fake);
    let mut p = TestProxy::start(&fake);
    let f = &crate::npm::FIXTURES[0];
    let path = format!("/npm{}", crate::npm::tarball_path(f));
    assert_eq!(p.get(&path).status, 200);
    p.stop();
    let file = p.files_under("npm/")[0].clone();
    let on_disk = p.storage().join(&file);
    let mut bytes = std::fs::read(&on_disk).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&on_disk, &bytes).unwrap();
    let p = p.restart(|c| c.verify_rate = 1 << 30);
    eventually("the damaged file to be removed", || !on_disk.exists());
    assert_eq!(p.get(&path).bytes(), crate::npm::tarball(f));
}

/// `mirror`, `export`, `import` and `verify` show their progress as one line redrawn on a
/// terminal (here a pseudo-terminal from util-linux's `script`): what is done of how much, the
/// rate and the time left; in a pipe they write no carriage return or escape sequence (a
/// line every ten seconds, which these short runs do not reach), only their summaries.
#[test]
fn progress_is_redrawn_on_a_terminal_and_line_oriented_elsewhere() {
    if !client("script") {
        return;
    }
    let fake = Fake::start();
    npm::serve(&fake);
    let dir = TempDir::new("cli-progress");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let bundle = dir.path().join("bundle.tar");
    // Each command with its cache's flags, as arguments for a shell (`script -c` takes one).
    let command = |cache: &std::path::Path, args: &[&str]| -> Command {
        let mut c = proxy_on_cache(cache);
        c.args(args).env("PROXY_UPSTREAM_NPM", fake.url());
        c
    };
    let on_terminal = |c: Command| -> String {
        let quote =
            |s: &std::ffi::OsStr| format!("'{}'", s.to_str().unwrap().replace('\'', r"'\''"));
        let line = std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ");
        let mut script = Command::new("script");
        script.args(["-q", "-e", "-c", &line, "/dev/null"]);
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => script.env(k, v),
                None => script.env_remove(k),
            };
        }
        let (ok, out) = run(&mut script, Duration::from_secs(60));
        assert!(ok, "{line}:\n{out}");
        out
    };
    let plain = |mut c: Command| -> String {
        let (ok, out) = run(&mut c, Duration::from_secs(60));
        assert!(ok, "{c:?}:\n{out}");
        assert!(!out.contains(['\r', '\x1b']), "{c:?}:\n{out:?}");
        out
    };
    let tty = on_terminal(command(&a, &["mirror", "pkg:npm/proxy-fixture-b@1.0.0"]));
    assert!(
        tty.contains("\r\x1b[K  mirroring: ") && tty.contains("/1 packages ("),
        "{tty:?}"
    );
    let bundle_arg = bundle.to_str().unwrap();
    let tty = on_terminal(command(&a, &["export", "-o", bundle_arg]));
    let shown = tty
        .split("\r\x1b[K  ")
        .find(|l| l.starts_with("exporting: "))
        .unwrap_or_else(|| panic!("{tty:?}"));
    // `exporting: 1/3 files, 1.2 KB/3.4 KB, 1.0 MB/s, 0s left`
    assert!(
        shown.contains(" files, ") && shown.contains("/s") && shown.contains(" left"),
        "{tty:?}"
    );
    plain(command(&a, &["export", "-o", &format!("{bundle_arg}.2")]));
    assert!(
        on_terminal(command(&b, &["import", bundle_arg])).contains("\r\x1b[K  importing: 1/"),
        "import"
    );
    assert!(
        on_terminal(command(&b, &["verify"])).contains("\r\x1b[K  verifying: 1/"),
        "verify"
    );
    plain(command(&b, &["verify"]));
    plain(command(&dir.path().join("c"), &["import", bundle_arg]));
    plain(command(
        &dir.path().join("d"),
        &["mirror", "pkg:npm/proxy-fixture-b@1.0.0"],
    ));
}
