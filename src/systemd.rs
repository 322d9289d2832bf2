//! systemd integration: the notify protocol (`sd_notify`: `READY=1`, `STATUS=`, `STOPPING=1`,
//! `WATCHDOG=1`, each a datagram on the Unix socket `NOTIFY_SOCKET` names) and socket activation
//! (the listening socket systemd passes as descriptor 3 with `LISTEN_FDS`/`LISTEN_PID`).
//!
//! The notify protocol is a few bytes on a datagram socket, which std does (an abstract socket
//! name, `@…`, through `SocketAddrExt`), so no crate is needed for it. Adopting an inherited
//! descriptor is the one thing std cannot do without `unsafe`, which this crate forbids: the
//! `listenfd` crate does it, after checking that the descriptor is a TCP socket.
//!
//! What systemd put in the environment is read by `config/` (the only reader of the
//! environment) into `config::Systemd`; this module interprets it. Without `NOTIFY_SOCKET`
//! (not under systemd, or `Type=simple`) every notification is a no-op.

use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::Systemd;
use crate::error::{Error, Result};

/// Where notifications go: a socket path, or a name in the abstract namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

/// Sends state changes to systemd, if it asked for them.
pub(crate) struct Notifier {
    target: Option<Target>,
    watchdog: Option<Duration>,
    /// A failed send is logged once: a socket that went away stays away.
    warned: AtomicBool,
}

impl Notifier {
    pub(crate) fn new(s: &Systemd) -> Notifier {
        let target = s.notify_socket.as_deref().and_then(target);
        Notifier {
            watchdog: target
                .as_ref()
                .and_then(|_| watchdog_interval(s, std::process::id())),
            target,
            warned: AtomicBool::new(false),
        }
    }

    /// How often the maintenance thread sends `WATCHDOG=1`: half of `WATCHDOG_USEC`, as
    /// `sd_watchdog_enabled(3)` advises, when the watchdog is meant for this process.
    pub(crate) fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog
    }

    /// The listener is bound and the database open: the unit is started.
    pub(crate) fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub(crate) fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub(crate) fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping: finishing in-flight requests");
    }

    pub(crate) fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send(&self, msg: &str) {
        let Some(target) = &self.target else {
            return;
        };
        if let Err(err) = send(target, msg.as_bytes())
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            log::warn!("cannot notify systemd ({target:?}): {err}");
        }
    }
}

fn send(target: &Target, msg: &[u8]) -> std::io::Result<usize> {
    let sock = UnixDatagram::unbound()?;
    match target {
        Target::Path(p) => sock.send_to(msg, p),
        Target::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(msg, &addr)
        }
    }
}

/// `NOTIFY_SOCKET`: an absolute path, or `@name` for the abstract namespace.
fn target(value: &str) -> Option<Target> {
    if let Some(name) = value.strip_prefix('@') {
        return Some(Target::Abstract(name.as_bytes().to_vec()));
    }
    value.starts_with('/').then(|| Target::Path(value.into()))
}

/// Half of `WATCHDOG_USEC`, unless `WATCHDOG_PID` names another process (the watchdog is then
/// that process's to keep) or the value is not a positive number.
fn watchdog_interval(s: &Systemd, pid: u32) -> Option<Duration> {
    if s.watchdog_pid.is_some_and(|p| p != pid) {
        return None;
    }
    let usec = s.watchdog_usec.filter(|u| *u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

/// A status is one line: systemd shows it in `systemctl status`.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The listening socket systemd passed (socket activation), when `LISTEN_PID` names this
/// process and `LISTEN_FDS` is at least 1: descriptor 3, which must be a TCP stream socket.
/// `None` when nothing was passed: the proxy binds `listen` itself.
pub(crate) fn passed_listener(s: &Systemd) -> Result<Option<TcpListener>> {
    if !passed_to(s, std::process::id()) {
        return Ok(None);
    }
    let fds = s.listen_fds.unwrap_or(0);
    if fds > 1 {
        log::warn!(
            "systemd passed {fds} sockets; serving on the first (a proxy.socket has one ListenStream=)"
        );
    }
    let bad = |err: std::io::Error| Error::Bind {
        addr: "the socket systemd passed (LISTEN_FDS)".into(),
        err,
    };
    // listenfd reads LISTEN_FDS and LISTEN_PID again (the same values `config/` read) and
    // removes them from the environment, so nothing started later takes them as its own.
    let mut fds = listenfd::ListenFd::from_env();
    match fds.take_tcp_listener(0).map_err(bad)? {
        Some(l) => Ok(Some(l)),
        None => Err(bad(std::io::Error::other("descriptor 3 is not there"))),
    }
}

/// Whether systemd's `LISTEN_*` variables are meant for the process `pid` (sd_listen_fds(3):
/// both set, the pid ours, at least one descriptor).
fn passed_to(s: &Systemd, pid: u32) -> bool {
    s.listen_pid == Some(pid) && s.listen_fds.is_some_and(|n| n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_socket_is_a_path_or_an_abstract_name() {
        assert_eq!(
            target("/run/systemd/notify"),
            Some(Target::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            target("@/org/freedesktop/systemd1/notify/123"),
            Some(Target::Abstract(
                b"/org/freedesktop/systemd1/notify/123".to_vec()
            ))
        );
        assert_eq!(target("relative/path"), None);
        assert_eq!(target(""), None);
    }

    #[test]
    fn the_watchdog_is_half_the_interval_and_only_for_its_process() {
        let s = |usec, pid| Systemd {
            watchdog_usec: usec,
            watchdog_pid: pid,
            ..Systemd::default()
        };
        assert_eq!(
            watchdog_interval(&s(Some(30_000_000), None), 42),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval(&s(Some(30_000_000), Some(42)), 42),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval(&s(Some(30_000_000), Some(7)), 42), None);
        assert_eq!(watchdog_interval(&s(Some(0), None), 42), None);
        assert_eq!(watchdog_interval(&s(None, None), 42), None);
    }

    #[test]
    fn passed_sockets_are_taken_only_when_meant_for_this_process() {
        let s = |fds, pid| Systemd {
            listen_fds: fds,
            listen_pid: pid,
            ..Systemd::default()
        };
        assert!(passed_to(&s(Some(1), Some(42)), 42));
        assert!(!passed_to(&s(Some(1), Some(7)), 42));
        assert!(!passed_to(&s(Some(1), None), 42));
        assert!(!passed_to(&s(Some(0), Some(42)), 42));
        assert!(!passed_to(&s(None, Some(42)), 42));
        // Not passed: nothing is read, nothing fails.
        assert!(passed_listener(&s(Some(1), Some(1))).unwrap().is_none());
    }

    #[test]
    fn notifications_arrive_as_datagrams_and_status_is_one_line() {
        let dir = std::env::temp_dir().join(format!("proxy-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(&Systemd {
            notify_socket: Some(path.display().to_string()),
            ..Systemd::default()
        });
        n.ready("a\nb");
        n.watchdog();
        let mut buf = [0u8; 256];
        let len = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=a b");
        let len = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        // The abstract namespace, as systemd itself uses it.
        let name = format!("proxy-notify-test-{}", std::process::id());
        let addr = {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
        };
        let abs = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier::new(&Systemd {
            notify_socket: Some(format!("@{name}")),
            ..Systemd::default()
        });
        n.stopping();
        let len = abs.recv(&mut buf).unwrap();
        assert!(buf[..len].starts_with(b"STOPPING=1\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
