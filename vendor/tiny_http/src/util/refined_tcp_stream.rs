use std::io::Result as IoResult;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::connection::Connection;

/// One half of a connection: the reading half shuts the socket down for reading when dropped, the
/// writing half for writing. (Ours) Both halves share the socket through an `Arc` rather than a
/// descriptor each (`try_clone`), and the TLS variant is gone.
pub struct RefinedTcpStream {
    stream: Arc<Connection>,
    close_read: bool,
    close_write: bool,
}

impl RefinedTcpStream {
    pub(crate) fn new(stream: Connection) -> (RefinedTcpStream, RefinedTcpStream) {
        let stream = Arc::new(stream);

        let read = RefinedTcpStream {
            stream: stream.clone(),
            close_read: true,
            close_write: false,
        };

        let write = RefinedTcpStream {
            stream,
            close_read: false,
            close_write: true,
        };

        (read, write)
    }

    /// Returns true if this struct wraps around a secure connection.
    #[inline]
    pub(crate) fn secure(&self) -> bool {
        false
    }

    pub(crate) fn peer_addr(&mut self) -> IoResult<Option<SocketAddr>> {
        self.stream.peer_addr()
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> IoResult<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// The socket both halves share.
    pub(crate) fn socket(&self) -> Arc<Connection> {
        self.stream.clone()
    }

    /// Writes what the socket takes without waiting; see `Connection::send_now`.
    pub(crate) fn send_now(&self, buf: &[u8]) -> IoResult<usize> {
        self.stream.send_now(buf)
    }
}

impl Drop for RefinedTcpStream {
    fn drop(&mut self) {
        if self.close_read {
            self.stream.shutdown(Shutdown::Read).ok();
        }

        if self.close_write {
            self.stream.shutdown(Shutdown::Write).ok();
        }
    }
}

impl Read for RefinedTcpStream {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        (&*self.stream).read(buf)
    }
}

impl Write for RefinedTcpStream {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        (&*self.stream).write(buf)
    }

    fn flush(&mut self) -> IoResult<()> {
        Ok(())
    }
}
