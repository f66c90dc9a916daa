//! asyncio's streams: [`open_connection`], [`start_server`] and their Unix
//! socket variants, with [`StreamReader`] / [`StreamWriter`].
//!
//! | asyncio | corio |
//! |---|---|
//! | `r, w = await open_connection(host, port)` | `let (r, w) = open_connection(addr).await?;` |
//! | `srv = await start_server(cb, host, port)` | `let srv = start_server(cb, addr).await?;` |
//! | `open_unix_connection(path)` / `start_unix_server(cb, path)` | [`open_unix_connection`] / [`start_unix_server`] |
//! | `limit=n` on any of those | the `*_with` variants and [`StreamConfig`]: `open_connection_with(addr, StreamConfig::new().limit(n))` |
//! | `await r.read(n)`, `read()`, `readline()`, `readexactly(n)`, `readuntil(sep or seps)` | same names on [`StreamReader`] (`read()` is `read_to_end()`) |
//! | `r.at_eof()`, `exception()`, `set_exception(e)`, `feed_data(b)`, `feed_eof()` | same names on [`StreamReader`]; [`StreamFeeder`] from another task |
//! | `w.write(b)`, `writelines`, `await w.drain()`, `close()`, `await wait_closed()`, `is_closing()`, `write_eof()` | same names on [`StreamWriter`] |
//! | `w.transport.set_write_buffer_limits(high, low)`, `get_write_buffer_size()` | [`StreamWriter::set_write_buffer_limits`], [`StreamWriter::get_write_buffer_size`] |
//! | `w.get_extra_info("peername")` | [`StreamWriter::peername`] (or `get_extra_info("peername")`) |
//! | `srv.sockets`, `serve_forever()`, `close()`, `wait_closed()` | [`Server::sockets`], [`Server::serve_forever`], [`Server::close`], [`Server::wait_closed`] |
//!
//! The semantics are asyncio's transport's: `write` sends at once what the
//! socket takes and the runtime sends the rest in the background, so a
//! request/reply loop needs no `drain`; `drain` is back-pressure above the
//! high-water mark; `close` closes (the connection's own reader sees end of
//! stream); errors are stored and raised by the next read before buffered
//! bytes. `StreamReader` is `futures_io::AsyncRead + AsyncBufRead` and
//! `StreamWriter` is `futures_io::AsyncWrite`. While a task waits in one of
//! the reader's or writer's own methods (`readline`, `drain`, ...), the
//! [task tree](crate::task_tree) shows the caller's line as its await point.
//!
//! The sockets are corio-reactor's [`net`](corio_reactor::net) types: a
//! connection is one socket shared by the reader and the writer (each holds a
//! clone), linked so that the writer's `close` reaches the reader. TCP
//! connections get `TCP_NODELAY`, as in asyncio.
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
//!     w.write(b"ping\n"); // sent at once: no drain needed to get the reply
//!     assert_eq!(r.readline().await?, b"ping\n");
//!     w.close();
//!     w.wait_closed().await?; // the handler reads EOF and returns
//!     server.close();
//!     server.wait_closed().await; // no new connections, every handler done
//!     std::io::Result::Ok(())
//! }).unwrap();
//! ```

mod config;
mod error;
mod link;
mod probe;
mod reader;
mod resolve;
mod server;
pub(crate) mod transport;
mod writer;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::ToSocketAddrs;
use std::os::fd::AsRawFd;
use std::path::Path;

use corio_reactor::net::{TcpStream, UnixStream};

use crate::AwaitPoint;

pub use config::StreamConfig;
pub use error::{IncompleteReadError, LimitOverrunError, ReadError};
pub(crate) use link::Link;
pub use reader::{Separator, StreamFeeder, StreamReader, DEFAULT_LIMIT};
pub use server::{
    start_server, start_server_with, start_unix_server, start_unix_server_with, Server,
};
pub use writer::{StreamWriter, DEFAULT_HIGH_WATER};
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

/// A connection's reader and writer over one socket, linked as asyncio's
/// protocol links them (the writer's `close` feeds the reader end of stream).
fn split<S>(
    stream: S,
    peer: Option<SocketAddress>,
    sock: Option<SocketAddress>,
    cfg: &StreamConfig,
) -> (StreamReader, StreamWriter)
where
    S: transport::ShutdownSocket + futures_io::AsyncRead + AsRawFd + Clone,
{
    let link = Link::new();
    let fd = stream.as_raw_fd();
    let reader = StreamReader::from_parts(
        Some(Box::new(stream.clone())),
        Some(fd),
        link.clone(),
        cfg.limit,
    );
    let mut writer =
        StreamWriter::from_transport(Box::new(transport::Socket(stream)), link, peer, sock);
    cfg.apply_to(&mut writer);
    (reader, writer)
}

pub(crate) fn split_tcp(stream: TcpStream, cfg: &StreamConfig) -> (StreamReader, StreamWriter) {
    // Latency over batching, as asyncio (which sets TCP_NODELAY on every TCP
    // transport); failure only costs latency, so it is not an error.
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok().map(SocketAddress::Inet);
    let sock = stream.local_addr().ok().map(SocketAddress::Inet);
    split(stream, peer, sock, cfg)
}

pub(crate) fn split_unix(stream: UnixStream, cfg: &StreamConfig) -> (StreamReader, StreamWriter) {
    let peer = stream.peer_addr().ok().map(SocketAddress::Unix);
    let sock = stream.local_addr().ok().map(SocketAddress::Unix);
    split(stream, peer, sock, cfg)
}

/// Connects to a TCP server and returns its reader and writer (asyncio's
/// `open_connection`). Works under any executor (the reactor drives the socket).
///
/// Errors: name resolution or connection errors (e.g. `ConnectionRefused`).
/// A host name (`"example.com:80"`) is resolved on the blocking pool, never on
/// the worker; a literal address is used as it is.
///
/// While it waits (for the lookup or the connection), the caller's line is the
/// task's await point in the [task tree](crate::task_tree).
///
/// ```
/// corio::run(async {
///     // Nobody listens on port 1 of localhost: the error says so.
///     let err = corio::open_connection("127.0.0.1:1").await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
/// });
/// ```
#[track_caller]
pub fn open_connection<A: ToSocketAddrs + Send + 'static>(
    addr: A,
) -> AwaitPoint<impl Future<Output = io::Result<(StreamReader, StreamWriter)>>> {
    open_connection_with(addr, StreamConfig::new())
}

/// [`open_connection`] with a [`StreamConfig`] (asyncio's `limit=` argument,
/// and the writer's water marks).
///
/// ```
/// use corio::streams::{open_connection_with, StreamConfig};
/// corio::run(async {
///     let server = corio::start_server(|_r, _w| async {}, "127.0.0.1:0").await?;
///     let addr = server.local_addr().unwrap();
///     let (r, _w) = open_connection_with(addr, StreamConfig::new().limit(1024)).await?;
///     assert_eq!(r.limit(), 1024);
///     std::io::Result::Ok(())
/// }).unwrap();
/// ```
#[track_caller]
pub fn open_connection_with<A: ToSocketAddrs + Send + 'static>(
    addr: A,
    cfg: StreamConfig,
) -> AwaitPoint<impl Future<Output = io::Result<(StreamReader, StreamWriter)>>> {
    crate::await_point(async move {
        let addrs = resolve::resolve(addr).await?;
        let stream = TcpStream::connect(&addrs[..]).await?;
        Ok(split_tcp(stream, &cfg))
    })
}

/// Connects to the Unix socket at `path` (asyncio's `open_unix_connection`).
///
/// While it waits (a listener whose backlog is full), the caller's line is the
/// task's await point.
#[track_caller]
pub fn open_unix_connection<P: AsRef<Path>>(
    path: P,
) -> AwaitPoint<impl Future<Output = io::Result<(StreamReader, StreamWriter)>>> {
    open_unix_connection_with(path, StreamConfig::new())
}

/// [`open_unix_connection`] with a [`StreamConfig`].
#[track_caller]
pub fn open_unix_connection_with<P: AsRef<Path>>(
    path: P,
    cfg: StreamConfig,
) -> AwaitPoint<impl Future<Output = io::Result<(StreamReader, StreamWriter)>>> {
    crate::await_point(async move {
        let stream = UnixStream::connect(path).await?;
        Ok(split_unix(stream, &cfg))
    })
}
