//! systemd: the test plays systemd's part. It binds the notify socket (`NOTIFY_SOCKET`) and reads
//! what `proxy serve` says on it (`READY=1` only once the port answers, `STATUS=`, `WATCHDOG=1`
//! with `WATCHDOG_USEC`, `STOPPING=1` on SIGTERM), and passes a bound listener to it with
//! `systemd-socket-activate` (socket activation: `LISTEN_FDS`, descriptor 3).

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// The notify socket, as systemd binds it.
struct Notify {
    sock: UnixDatagram,
}

impl Notify {
    fn bind(path: &Path) -> Notify {
        let sock = UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Notify { sock }
    }

    /// The next message for which `want` holds; the ones before it are returned too, in order.
    /// Panics when none comes within `PATIENCE`.
    fn until(&self, what: &str, want: impl Fn(&str) -> bool) -> (String, Vec<String>) {
        let start = Instant::now();
        let mut before = Vec::new();
        let mut buf = [0u8; 4096];
        while start.elapsed() < PATIENCE {
            let Ok(n) = self.sock.recv(&mut buf) else {
                continue;
            };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if want(&msg) {
                return (msg, before);
            }
            before.push(msg);
        }
        panic!("no {what} within {PATIENCE:?}; got {before:?}");
    }
}

/// `kill -TERM` through the shell (procps is not on every machine).
fn terminate(child: &Child) {
    let (ok, out) = run(
        Command::new("sh").args(["-c", &format!("kill -TERM {}", child.id())]),
        Duration::from_secs(5),
    );
    assert!(ok, "{out}");
}

fn exits_0(child: &mut Child) {
    eventually("the proxy to exit", || child.try_wait().unwrap().is_some());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn notify_says_ready_once_serving_then_status_watchdog_and_stopping() {
    let dir = TempDir::new("systemd-notify");
    let notify = Notify::bind(&dir.path().join("notify"));
    let port = free_port();
    let mut child = proxy_on_cache(dir.path())
        .args(["-listen", &format!("127.0.0.1:{port}")])
        .env("NOTIFY_SOCKET", dir.path().join("notify"))
        // 400 ms: a WATCHDOG=1 every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        // Socket activation meant for another process: the proxy binds `listen` itself.
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (ready, before) = notify.until("READY=1", |m| m.contains("READY=1"));
    assert!(before.is_empty(), "before READY=1: {before:?}");
    // The port answers the moment READY=1 is read: bound, database open, workers running.
    let health = get(&format!("http://127.0.0.1:{port}/health"), &[]);
    assert_eq!(health.status, 200, "{}", health.text());
    assert!(
        ready.contains(&format!(
            "STATUS=serving on 127.0.0.1:{port}: 0 cached artifacts (0 B)"
        )),
        "{ready}"
    );
    // Two watchdog pings: they keep coming.
    notify.until("WATCHDOG=1", |m| m == "WATCHDOG=1");
    notify.until("a second WATCHDOG=1", |m| m == "WATCHDOG=1");
    terminate(&child);
    let (stopping, _) = notify.until("STOPPING=1", |m| m.contains("STOPPING=1"));
    assert!(stopping.contains("STATUS=stopping"), "{stopping}");
    exits_0(&mut child);
}

#[test]
fn without_a_watchdog_nothing_but_ready_and_stopping_is_sent() {
    let dir = TempDir::new("systemd-plain");
    let notify = Notify::bind(&dir.path().join("notify"));
    let port = free_port();
    let mut child = proxy_on_cache(dir.path())
        .args(["-listen", &format!("127.0.0.1:{port}"), "-offline"])
        .env("NOTIFY_SOCKET", dir.path().join("notify"))
        // Meant for another process: no pings.
        .env("WATCHDOG_USEC", "200000")
        .env("WATCHDOG_PID", "1")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (ready, _) = notify.until("READY=1", |m| m.contains("READY=1"));
    assert!(ready.ends_with(", offline"), "{ready}");
    terminate(&child);
    let (_, between) = notify.until("STOPPING=1", |m| m.contains("STOPPING=1"));
    assert!(
        !between.iter().any(|m| m.contains("WATCHDOG")),
        "{between:?}"
    );
    exits_0(&mut child);
}

/// `systemd-socket-activate` binds the port, waits for a connection and starts the proxy with
/// the listener as descriptor 3, as a `proxy.socket` unit does: the proxy serves on it and
/// binds nothing of its own.
#[test]
fn socket_activation_serves_on_the_passed_listener() {
    if !client("systemd-socket-activate") {
        return;
    }
    let dir = TempDir::new("systemd-activate");
    let (port, unused) = (free_port(), free_port());
    let mut child = Command::new("systemd-socket-activate")
        .args(["-l", &format!("127.0.0.1:{port}")])
        .arg(env!("CARGO_BIN_EXE_proxy"))
        .args(["-listen", &format!("127.0.0.1:{unused}")])
        .arg("-storage")
        .arg(dir.path().join("artifacts"))
        .arg("-database")
        .arg(dir.path().join("proxy.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("systemd-socket-activate to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // The first connection starts the proxy; it is answered once the proxy accepts it.
    let health = get(&format!("http://127.0.0.1:{port}/health"), &[]);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", unused)).is_err(),
        "the proxy bound `listen` too"
    );
    terminate(&child);
    exits_0(&mut child);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(
        log.contains(&format!("listening on 127.0.0.1:{port}")),
        "{log}"
    );
}
