//! [`Server`], [`start_server`] and [`start_unix_server`].
//!
//! # How a server runs
//!
//! 1. `start_server` binds the listener at once (so the address is known and a
//!    bind error is returned), then spawns the *accept loop* on the current
//!    runtime.
//! 2. The accept loop waits for either a connection or [`Server::close`]. Each
//!    connection becomes a task running the handler; a counter of live
//!    handlers is kept by a guard inside each task (so it also drops on panic
//!    and cancellation).
//! 3. `close` stops the accept loop, which drops the listener: no new
//!    connections. Running handlers go on (asyncio's semantics) unless
//!    [`Server::abort_clients`] cancels them.
//! 4. [`Server::wait_closed`] waits until the accept loop has ended and every
//!    handler has returned (Python 3.12+).

use std::collections::HashMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use corio_reactor::net::{TcpListener, UnixListener};

use super::{split_tcp, split_unix, SocketAddress, StreamConfig, StreamReader, StreamWriter};
use crate::sync::waitlist::lock;
use crate::sync::Event;
use crate::{AwaitPoint, Handle, Task};

/// After an accept error such as `EMFILE` (out of file descriptors), the loop
/// pauses this long before accepting again instead of spinning (asyncio waits
/// 1 s; a shorter pause recovers faster once descriptors are freed).
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

struct Shared {
    closing: Event,
    accept_done: Event,
    conns: Mutex<Conns>,
    idle: Event,
}

/// Live connection handlers: a count, and their task handles for
/// [`Server::abort_clients`].
#[derive(Default)]
struct Conns {
    active: usize,
    next_id: u64,
    /// Every live handler's id; its task handle once spawned.
    tasks: HashMap<u64, Option<Task<()>>>,
    /// Handlers with an id up to this were aborted by `abort_clients`; one whose
    /// handle arrives late (spawned, not yet recorded) is cancelled on arrival.
    aborted_up_to: u64,
}

impl Shared {
    fn conn_started(&self) -> u64 {
        let mut c = lock(&self.conns);
        c.active += 1;
        c.next_id += 1;
        let id = c.next_id;
        c.tasks.insert(id, None);
        self.idle.clear();
        id
    }
    fn conn_task(&self, id: u64, task: Task<()>) {
        let mut c = lock(&self.conns);
        if id <= c.aborted_up_to {
            drop(c);
            task.cancel();
            return;
        }
        // Keep the handle only while the handler is live (it may have ended already).
        if let Some(slot) = c.tasks.get_mut(&id) {
            *slot = Some(task);
        }
    }
    fn conn_ended(&self, id: u64) {
        let mut c = lock(&self.conns);
        c.active -= 1;
        c.tasks.remove(&id);
        if c.active == 0 {
            self.idle.set();
        }
    }
}

/// Decrements the live-handler count however the handler task ends
/// (returns, panics, or is cancelled).
struct ConnGuard(Arc<Shared>, u64);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.conn_ended(self.1);
    }
}

/// A listening server (asyncio's `Server`), made by [`start_server`] or
/// [`start_unix_server`]. Dropping it closes it (like [`close`](Self::close)).
pub struct Server {
    shared: Arc<Shared>,
    sockets: Vec<SocketAddress>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.sockets)
            .field("serving", &self.is_serving())
            .field("active_connections", &self.active_connections())
            .finish()
    }
}

impl Server {
    /// The addresses the server listens on (asyncio's `Server.sockets`).
    pub fn sockets(&self) -> &[SocketAddress] {
        &self.sockets
    }

    /// The TCP address (handy with port 0); `None` for a Unix server.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.sockets.iter().find_map(SocketAddress::as_inet)
    }

    /// True until [`close`](Self::close).
    pub fn is_serving(&self) -> bool {
        !self.shared.closing.is_set()
    }

    /// Handlers running now.
    pub fn active_connections(&self) -> usize {
        lock(&self.shared.conns).active
    }

    /// Cancels every running connection handler (Python 3.13's
    /// `abort_clients`): each handler's future is dropped, which closes its
    /// socket. Use after [`close`](Self::close) when [`wait_closed`](Self::wait_closed)
    /// should not wait for clients to hang up. Returns how many handlers were running.
    pub fn abort_clients(&self) -> usize {
        let (live, tasks) = {
            let mut c = lock(&self.shared.conns);
            c.aborted_up_to = c.next_id;
            let live = c.tasks.len();
            let tasks: Vec<Task<()>> = c.tasks.values_mut().filter_map(Option::take).collect();
            (live, tasks)
        };
        // Cancel outside the lock: a cancelled handler's guard takes it.
        for t in &tasks {
            t.cancel();
        }
        live
    }

    /// Stops accepting: the listening socket is closed; connections already
    /// accepted keep running.
    pub fn close(&self) {
        self.shared.closing.set();
    }

    /// Waits until [`close`](Self::close) (asyncio's `serve_forever`, which
    /// accepts until cancelled; the server accepts from the moment it is
    /// started, so this only waits). While it waits, the caller's line is the
    /// task's await point in the [task tree](crate::task_tree).
    #[track_caller]
    pub fn serve_forever(&self) -> AwaitPoint<impl Future<Output = ()> + '_> {
        crate::await_point(self.shared.closing.wait())
    }

    /// Waits until the server is closed, the listener is gone, and every
    /// connection handler has returned. While it waits, the caller's line is
    /// the task's await point.
    #[track_caller]
    pub fn wait_closed(&self) -> AwaitPoint<impl Future<Output = ()> + '_> {
        crate::await_point(async move {
            self.shared.closing.wait().await;
            self.shared.accept_done.wait().await;
            loop {
                if lock(&self.shared.conns).active == 0 {
                    return;
                }
                self.shared.idle.wait().await;
            }
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close();
    }
}

/// Listens on `addr` and runs `handler(reader, writer)` as a new task for
/// every connection (asyncio's `start_server`). Must be called inside a corio
/// runtime (`corio::run`, `Runtime::block_on`, or a task).
///
/// Use port 0 for a free port and read it back with [`Server::local_addr`].
/// A host name (`"localhost:8080"`) is resolved on the blocking pool, never on
/// the worker (that lookup is what the `await` waits for); a literal address is
/// bound at once.
///
/// Errors: the bind error (e.g. `AddrInUse`).
///
/// While it waits (for a host name's lookup), the caller's line is the task's
/// await point in the [task tree](crate::task_tree).
///
/// # Panics
/// Polled outside a corio runtime (the server's tasks run on it), as every
/// facade function that needs one (see the crate docs).
///
/// ```
/// corio::run(async {
///     let server = corio::start_server(|_r, mut w: corio::streams::StreamWriter| async move {
///         w.write(b"hi\n");
///         let _ = w.wait_closed().await;
///     }, "127.0.0.1:0").await?;
///     let (mut r, _w) = corio::open_connection(server.local_addr().unwrap()).await?;
///     assert_eq!(r.readline().await?, b"hi\n");
///     std::io::Result::Ok(())
/// }).unwrap();
/// ```
#[track_caller]
pub fn start_server<H, Fut, A>(
    handler: H,
    addr: A,
) -> AwaitPoint<impl Future<Output = io::Result<Server>>>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    A: ToSocketAddrs + Send + 'static,
{
    start_server_with(handler, addr, StreamConfig::new())
}

/// [`start_server`] with a [`StreamConfig`] for every connection (asyncio's
/// `limit=` argument).
///
/// ```
/// use corio::streams::{start_server_with, StreamConfig};
/// corio::run(async {
///     let server = start_server_with(|r: corio::StreamReader, _w| async move {
///         assert_eq!(r.limit(), 100);
///     }, "127.0.0.1:0", StreamConfig::new().limit(100)).await?;
///     let _conn = corio::open_connection(server.local_addr().unwrap()).await?;
///     std::io::Result::Ok(())
/// }).unwrap();
/// ```
#[track_caller]
pub fn start_server_with<H, Fut, A>(
    handler: H,
    addr: A,
    cfg: StreamConfig,
) -> AwaitPoint<impl Future<Output = io::Result<Server>>>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    A: ToSocketAddrs + Send + 'static,
{
    crate::await_point(async move {
        let handle = current_handle("corio::start_server()");
        let addrs = super::resolve::resolve(addr).await?;
        let listener = TcpListener::bind(&addrs[..])?;
        let sockets = vec![SocketAddress::Inet(listener.local_addr()?)];
        let accept = move |cx: &mut Context<'_>| {
            listener.poll_accept(cx).map_ok(|(s, _)| split_tcp(s, &cfg))
        };
        Ok(launch(handle, accept, handler, sockets))
    })
}

/// Listens on the Unix socket `path` (asyncio's `start_unix_server`); see
/// [`start_server`]. The socket file is not removed on close (as asyncio
/// before 3.13's `cleanup_socket`): remove it yourself if you reuse the path.
pub async fn start_unix_server<H, Fut, P>(handler: H, path: P) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    P: AsRef<Path>,
{
    start_unix_server_with(handler, path, StreamConfig::new()).await
}

/// [`start_unix_server`] with a [`StreamConfig`] for every connection.
pub async fn start_unix_server_with<H, Fut, P>(
    handler: H,
    path: P,
    cfg: StreamConfig,
) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    P: AsRef<Path>,
{
    let handle = current_handle("corio::start_unix_server()");
    let listener = UnixListener::bind(path)?;
    let sockets = vec![SocketAddress::Unix(listener.local_addr()?)];
    let accept = move |cx: &mut Context<'_>| {
        listener
            .poll_accept(cx)
            .map_ok(|(s, _)| split_unix(s, &cfg))
    };
    Ok(launch(handle, accept, handler, sockets))
}

/// The runtime the server's tasks will run on.
fn current_handle(what: &str) -> Handle {
    Handle::try_current().unwrap_or_else(|| crate::runtime::outside_runtime(what))
}

type Conn = (StreamReader, StreamWriter);

fn launch<Acc, H, Fut>(
    handle: Handle,
    accept: Acc,
    handler: H,
    sockets: Vec<SocketAddress>,
) -> Server
where
    Acc: FnMut(&mut Context<'_>) -> Poll<io::Result<Conn>> + Send + 'static,
    H: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let shared = Arc::new(Shared {
        closing: Event::new(),
        accept_done: Event::new(),
        conns: Mutex::new(Conns::default()),
        idle: Event::new(),
    });
    shared.idle.set();
    let task = handle.create_task(accept_loop(handle.clone(), accept, handler, shared.clone()));
    drop(task); // detached: it ends by itself on close()
    Server { shared, sockets }
}

async fn accept_loop<Acc, H, Fut>(handle: Handle, mut accept: Acc, handler: H, shared: Arc<Shared>)
where
    Acc: FnMut(&mut Context<'_>) -> Poll<io::Result<Conn>> + Send + 'static,
    H: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    /// Marks the loop as finished however it ends (also if its task is cancelled).
    struct Done(Arc<Shared>);
    impl Drop for Done {
        fn drop(&mut self) {
            self.0.closing.set();
            self.0.accept_done.set();
        }
    }
    let done = Done(shared.clone());
    {
        let mut closing = pin!(shared.closing.wait());
        loop {
            let next = poll_fn(|cx| {
                if closing.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                accept(cx).map(Some)
            })
            .await;
            match next {
                None => break,
                Some(Ok((reader, writer))) => {
                    let id = shared.conn_started();
                    let guard = ConnGuard(shared.clone(), id);
                    let conn = handler(reader, writer);
                    let task = handle.create_task(async move {
                        let _guard = guard;
                        conn.await;
                    });
                    shared.conn_task(id, task);
                }
                Some(Err(e)) if is_transient(&e) => {}
                Some(Err(_)) => {
                    // Out of descriptors/memory: back off, then try again.
                    corio_reactor::timer::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            }
        }
    }
    drop(accept); // closes the listening socket
    drop(done);
}

/// Errors about one failed connection attempt, not about the listener.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
