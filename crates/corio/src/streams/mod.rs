//! asyncio's streams: [`open_connection`], [`start_server`] and their Unix
//! socket variants, with [`StreamReader`] / [`StreamWriter`].
//!
//! | asyncio | corio |
//! |---|---|
//! | `r, w = await open_connection(host, port)` | `let (r, w) = open_connection(addr).await?;` |
//! | `srv = await start_server(cb, host, port)` | `let srv = start_server(cb, addr).await?;` |
//! | `open_unix_connection(path)` / `start_unix_server(cb, path)` | [`open_unix_connection`] / [`start_unix_server`] |
//! | `await r.read(n)`, `readline()`, `readexactly(n)`, `readuntil(sep)`, `at_eof()` | same names on [`StreamReader`] |
//! | `w.write(b)`, `await w.drain()`, `w.close()`, `await w.wait_closed()` | same names on [`StreamWriter`] |
//! | `w.get_extra_info("peername")` | [`StreamWriter::peername`] (or `get_extra_info("peername")`) |
//! | `srv.sockets`, `serve_forever()`, `close()`, `wait_closed()` | [`Server::sockets`], [`Server::serve_forever`], [`Server::close`], [`Server::wait_closed`] |
//!
//! The sockets are corio-reactor's [`net`](corio_reactor::net) types: a
//! connection is one socket shared by the reader and the writer (each holds a
//! clone). TCP connections get `TCP_NODELAY`, as in asyncio.
//!
//! The server runs on the corio runtime that calls `start_server`: an accept
//! loop task, and one task per connection running the handler.
//!
//! ```
//! use corio::streams::{open_connection, start_server, StreamReader, StreamWriter};
//!
//! async fn echo(mut r: StreamReader, mut w: StreamWriter) {
//!     while let Ok(line) = r.readline().await {
//!         if line.is_empty() { break; } // EOF
//!         w.write(&line);
//!         if w.drain().await.is_err() { break; }
//!     }
//! }
//!
//! corio::run(async {
//!     let server = start_server(echo, "127.0.0.1:0").await?;
//!     let addr = server.local_addr().expect("a TCP server has an address");
//!     let (mut r, mut w) = open_connection(addr).await?;
//!     w.write(b"ping\n");
//!     w.drain().await?;
//!     assert_eq!(r.readline().await?, b"ping\n");
//!     w.close();
//!     w.wait_closed().await?; // the handler reads EOF and returns
//!     server.close();
//!     server.wait_closed().await; // no new connections, every handler done
//!     std::io::Result::Ok(())
//! }).unwrap();
//! ```

mod error;
mod reader;
mod server;
mod writer;

use std::fmt;
use std::io;
use std::net::ToSocketAddrs;
use std::path::Path;

use corio_reactor::net::{TcpStream, UnixStream};

pub use error::{IncompleteReadError, LimitOverrunError, ReadError};
pub use reader::{StreamReader, DEFAULT_LIMIT};
pub use server::{start_server, start_unix_server, Server};
pub use writer::StreamWriter;

/// A socket address of a TCP or Unix stream ([`StreamWriter::peername`],
/// [`Server::sockets`]).
#[derive(Debug, Clone)]
pub enum SocketAddress {
    /// An IPv4/IPv6 address and port.
    Inet(std::net::SocketAddr),
    /// A Unix-domain socket address (a path, or unnamed).
    Unix(std::os::unix::net::SocketAddr),
}

impl SocketAddress {
    /// The IP address and port, for TCP.
    pub fn as_inet(&self) -> Option<std::net::SocketAddr> {
        match self {
            SocketAddress::Inet(a) => Some(*a),
            SocketAddress::Unix(_) => None,
        }
    }
    /// The socket file's path, for a named Unix socket.
    pub fn as_pathname(&self) -> Option<&Path> {
        match self {
            SocketAddress::Unix(a) => a.as_pathname(),
            SocketAddress::Inet(_) => None,
        }
    }
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddress::Inet(a) => a.fmt(f),
            SocketAddress::Unix(a) => match a.as_pathname() {
                Some(p) => p.display().fmt(f),
                None => f.write_str("(unnamed unix socket)"),
            },
        }
    }
}

pub(crate) fn split_tcp(stream: TcpStream, limit: usize) -> (StreamReader, StreamWriter) {
    // Latency over batching, as asyncio (which sets TCP_NODELAY on every TCP
    // transport); failure only costs latency, so it is not an error.
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok().map(SocketAddress::Inet);
    let sock = stream.local_addr().ok().map(SocketAddress::Inet);
    let reader = StreamReader::with_limit(stream.clone(), limit);
    (reader, StreamWriter::with_addresses(stream, peer, sock))
}

pub(crate) fn split_unix(stream: UnixStream, limit: usize) -> (StreamReader, StreamWriter) {
    let peer = stream.peer_addr().ok().map(SocketAddress::Unix);
    let sock = stream.local_addr().ok().map(SocketAddress::Unix);
    let reader = StreamReader::with_limit(stream.clone(), limit);
    (reader, StreamWriter::with_addresses(stream, peer, sock))
}

/// Connects to a TCP server and returns its reader and writer (asyncio's
/// `open_connection`). Works under any executor (the reactor drives the socket).
///
/// Errors: name resolution or connection errors (e.g. `ConnectionRefused`).
/// Pass IP addresses in async code: resolving a host name blocks the thread.
///
/// ```
/// corio::run(async {
///     // Nobody listens on port 1 of localhost: the error says so.
///     let err = corio::open_connection("127.0.0.1:1").await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
/// });
/// ```
pub async fn open_connection<A: ToSocketAddrs>(
    addr: A,
) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = TcpStream::connect(addr).await?;
    Ok(split_tcp(stream, DEFAULT_LIMIT))
}

/// Connects to the Unix socket at `path` (asyncio's `open_unix_connection`).
pub async fn open_unix_connection<P: AsRef<Path>>(
    path: P,
) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = UnixStream::connect(path).await?;
    Ok(split_unix(stream, DEFAULT_LIMIT))
}
