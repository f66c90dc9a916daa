//! An in-memory, TCP-like network for simulations: [`TcpListener`] and
//! [`TcpStream`] with the `futures_io::{AsyncRead, AsyncWrite}` traits of
//! [`corio::net`](crate::net)'s, virtual latency, lost connections and
//! partitions, all drawn from the run's seed.
//!
//! ```
//! use corio::sim::net::{TcpListener, TcpStream};
//! use futures::{AsyncReadExt, AsyncWriteExt};
//! use std::time::Duration;
//!
//! corio::sim::check(|| async {
//!     corio::sim::net::set_latency(Duration::from_millis(5), Duration::from_millis(20));
//!     let listener = TcpListener::bind("10.0.0.1:80").unwrap();
//!     let server = corio::create_task(async move {
//!         let (mut s, _peer) = listener.accept().await.unwrap();
//!         let mut buf = [0u8; 4];
//!         s.read_exact(&mut buf).await.unwrap();
//!         s.write_all(&buf).await.unwrap();
//!     });
//!     let mut c = TcpStream::connect("10.0.0.1:80").await.unwrap();
//!     c.write_all(b"ping").await.unwrap();
//!     let mut buf = [0u8; 4];
//!     c.read_exact(&mut buf).await.unwrap();
//!     assert_eq!(&buf, b"ping");
//!     server.await.unwrap();
//! });
//! ```
//!
//! Model: a connection is two one-way pipes. A write is delivered to the
//! reader after a latency drawn uniformly from [`set_latency`]'s range, in
//! order (a later write never overtakes an earlier one); at most
//! [`WINDOW`] bytes are in flight per direction (a writer past that waits, as
//! with a full TCP window). A connect takes one latency. While two hosts are
//! [`partition`]ed, data between them is held (and delivered after
//! [`heal`], as TCP retransmits it) and connects wait; [`disconnect`] resets
//! their connections; with [`set_loss`]`(p)` each write loses its connection
//! with probability `p` (both ends then read and write `ConnectionReset`).
//! Hosts are IP addresses: a stream connects from 127.0.0.1 unless made with
//! [`TcpStream::connect_from`].
//!
//! Give addresses as IP literals: a host name would be resolved by the real
//! resolver.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corio_reactor::await_point::At;
use corio_reactor::timer::{sleep, sleep_until, Sleep};

use crate::AwaitPoint;

use super::rng::Rng;

/// Bytes in flight per direction of a connection before the writer waits.
pub const WINDOW: usize = 64 * 1024;

/// The first port given to port 0 (the IANA dynamic range).
const FIRST_EPHEMERAL_PORT: u16 = 49_152;

/// Mixed into the run's seed so the network draws its own sequence (network
/// use does not shift the scheduler's choices).
const NET_SEED_SALT: u64 = 0x6e65_7477_6f72_6b00;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections move plain values: poison is harmless.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The network of one simulation run.
pub(crate) struct Network {
    state: Mutex<NetState>,
}

struct NetState {
    rng: Rng,
    latency: (Duration, Duration),
    loss: f64,
    listeners: HashMap<SocketAddr, Arc<Backlog>>,
    partitions: Vec<(IpAddr, IpAddr)>,
    next_port: u16,
    conns: Vec<Weak<Conn>>,
    /// Readers and connects held by a partition, woken by `heal`.
    held: Vec<Waker>,
}

impl Network {
    pub(crate) fn new(seed: u64) -> Network {
        Network {
            state: Mutex::new(NetState {
                rng: Rng::new(seed ^ NET_SEED_SALT),
                latency: (Duration::ZERO, Duration::ZERO),
                loss: 0.0,
                listeners: HashMap::new(),
                partitions: Vec::new(),
                next_port: FIRST_EPHEMERAL_PORT,
                conns: Vec::new(),
                held: Vec::new(),
            }),
        }
    }
}

impl NetState {
    fn latency(&mut self) -> Duration {
        let (lo, hi) = self.latency;
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo).as_nanos().min(u64::MAX as u128) as u64;
        lo + Duration::from_nanos(self.rng.next_u64() % (span + 1))
    }

    fn partitioned(&self, a: IpAddr, b: IpAddr) -> bool {
        self.partitions
            .iter()
            .any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
    }

    fn port(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = self
            .next_port
            .checked_add(1)
            .unwrap_or(FIRST_EPHEMERAL_PORT);
        p
    }
}

fn network() -> Arc<Network> {
    super::context::current().net
}

/// Each delivery takes a latency drawn uniformly from `min..=max` (default 0).
///
/// # Panics
/// Outside a simulation.
pub fn set_latency(min: Duration, max: Duration) {
    lock(&network().state).latency = (min, max.max(min));
}

/// Each write loses its connection with probability `p` (0.0 to 1.0; default 0).
///
/// # Panics
/// Outside a simulation.
pub fn set_loss(p: f64) {
    lock(&network().state).loss = p.clamp(0.0, 1.0);
}

/// Cuts hosts `a` and `b` apart until [`heal`]: data between them is held,
/// connects between them wait.
///
/// # Panics
/// Outside a simulation.
pub fn partition(a: IpAddr, b: IpAddr) {
    lock(&network().state).partitions.push((a, b));
}

/// Ends every partition: held data is delivered, waiting connects proceed.
///
/// # Panics
/// Outside a simulation.
pub fn heal() {
    let held = {
        let net = network();
        let mut st = lock(&net.state);
        st.partitions.clear();
        std::mem::take(&mut st.held)
    };
    held.into_iter().for_each(Waker::wake);
}

/// Resets every open connection between hosts `a` and `b` (both ends then
/// get `ConnectionReset`).
///
/// # Panics
/// Outside a simulation.
pub fn disconnect(a: IpAddr, b: IpAddr) {
    let conns: Vec<Arc<Conn>> = {
        let net = network();
        let mut st = lock(&net.state);
        st.conns.retain(|c| c.strong_count() > 0);
        st.conns.iter().filter_map(Weak::upgrade).collect()
    };
    for c in conns {
        let (x, y) = (c.addrs[0].ip(), c.addrs[1].ip());
        if (x == a && y == b) || (x == b && y == a) {
            c.reset();
        }
    }
}

/// One direction of a connection.
#[derive(Default)]
struct Pipe {
    /// (delivery instant, bytes), in order.
    segments: VecDeque<(Instant, Vec<u8>)>,
    /// Bytes of the front segment already read.
    read_offset: usize,
    in_flight: usize,
    /// The writer shut down (or dropped) its half: EOF after the segments.
    write_closed: bool,
    /// The reader is gone: writes fail.
    read_closed: bool,
    last_delivery: Option<Instant>,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

struct Conn {
    /// `pipes[i]` carries data from end `i` to end `1 - i`.
    pipes: [Mutex<Pipe>; 2],
    /// `addrs[i]`: the address of end `i`.
    addrs: [SocketAddr; 2],
    reset: std::sync::atomic::AtomicBool,
}

impl Conn {
    fn reset(&self) {
        self.reset.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut wakers = Vec::new();
        for p in &self.pipes {
            let mut p = lock(p);
            wakers.extend(p.reader.take());
            wakers.extend(p.writer.take());
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    fn is_reset(&self) -> bool {
        self.reset.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "simulated connection reset (lost, or disconnected by sim::net::disconnect)",
    )
}

/// The accept queue of a listener.
struct Backlog {
    queue: Mutex<Accepts>,
}

/// Connections waiting for `accept`, and the waiting acceptor.
type Accepts = (VecDeque<(TcpStream, SocketAddr)>, Option<Waker>);

/// A simulated listening socket (as [`corio::net::TcpListener`](crate::net::TcpListener)).
pub struct TcpListener {
    backlog: Arc<Backlog>,
    addr: SocketAddr,
    net: Arc<Network>,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.addr)
            .finish()
    }
}

fn first_addr<A: ToSocketAddrs>(addr: A) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing; pass an IP:port",
        )
    })
}

impl TcpListener {
    /// Listens at `addr` (port 0: a free port) in the running simulation.
    ///
    /// # Errors
    /// `AddrInUse` when a simulated listener already has the address.
    ///
    /// # Panics
    /// Outside a simulation.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let mut addr = first_addr(addr)?;
        let net = network();
        let backlog = Arc::new(Backlog {
            queue: Mutex::new((VecDeque::new(), None)),
        });
        {
            let mut st = lock(&net.state);
            if addr.port() == 0 {
                addr.set_port(st.port());
            }
            if st.listeners.contains_key(&addr) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("a simulated listener is already bound to {addr}"),
                ));
            }
            st.listeners.insert(addr, backlog.clone());
        }
        Ok(TcpListener { backlog, addr, net })
    }

    /// The address it listens at.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    /// Waits for a connection: the stream and the peer's address. While it
    /// waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn accept(
        &self,
    ) -> AwaitPoint<impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + '_> {
        crate::await_point(std::future::poll_fn(move |cx| {
            let mut q = lock(&self.backlog.queue);
            match q.0.pop_front() {
                Some(c) => Poll::Ready(Ok(c)),
                None => {
                    q.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        lock(&self.net.state).listeners.remove(&self.addr);
    }
}

/// A simulated stream socket (as [`corio::net::TcpStream`](crate::net::TcpStream)):
/// `futures_io::{AsyncRead, AsyncWrite}`.
pub struct TcpStream {
    conn: Arc<Conn>,
    /// Which end of `conn` this is (0: the connecting end).
    end: usize,
    net: Arc<Network>,
    /// Armed while the next segment is in flight.
    delivery: Option<Sleep>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.conn.addrs[self.end])
            .field("peer", &self.conn.addrs[1 - self.end])
            .finish()
    }
}

impl TcpStream {
    /// Connects from host 127.0.0.1 to `addr` in the running simulation.
    ///
    /// # Errors
    /// `ConnectionRefused` when nothing listens at `addr`.
    ///
    /// # Panics
    /// Outside a simulation.
    ///
    /// While it waits, the caller's line is the task's await point (so for
    /// every method of this type that waits).
    #[track_caller]
    pub fn connect<A: ToSocketAddrs>(
        addr: A,
    ) -> AwaitPoint<impl Future<Output = io::Result<TcpStream>>> {
        TcpStream::connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), addr)
    }

    /// Connects from host `local` (for partitions between hosts) to `addr`.
    #[track_caller]
    pub fn connect_from<A: ToSocketAddrs>(
        local: IpAddr,
        addr: A,
    ) -> AwaitPoint<impl Future<Output = io::Result<TcpStream>>> {
        crate::await_point(TcpStream::connect_inner(local, addr))
    }

    async fn connect_inner<A: ToSocketAddrs>(local: IpAddr, addr: A) -> io::Result<TcpStream> {
        let peer = first_addr(addr)?;
        let net = network();
        // Wait out a partition (the SYN is retransmitted until it heals).
        std::future::poll_fn(|cx| {
            let mut st = lock(&net.state);
            if st.partitioned(local, peer.ip()) {
                st.held.push(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        let latency = lock(&net.state).latency();
        sleep(latency).await;
        let mut st = lock(&net.state);
        let Some(backlog) = st.listeners.get(&peer).cloned() else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("no simulated listener at {peer} (bind a corio::sim::net::TcpListener there first)"),
            ));
        };
        let port = st.port();
        let conn = Arc::new(Conn {
            pipes: [Mutex::default(), Mutex::default()],
            addrs: [SocketAddr::new(local, port), peer],
            reset: false.into(),
        });
        st.conns.retain(|c| c.strong_count() > 0);
        st.conns.push(Arc::downgrade(&conn));
        drop(st);
        let server = TcpStream {
            conn: conn.clone(),
            end: 1,
            net: net.clone(),
            delivery: None,
        };
        let waker = {
            let mut q = lock(&backlog.queue);
            q.0.push_back((server, conn.addrs[0]));
            q.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(TcpStream {
            conn,
            end: 0,
            net,
            delivery: None,
        })
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.conn.addrs[self.end])
    }

    /// Reads into `buf`; `Ok(0)` at end of stream: `AsyncReadExt::read`,
    /// which this method shadows (as the ones below shadow theirs), recording
    /// the caller's line while it waits.
    #[track_caller]
    pub fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> AwaitPoint<impl Future<Output = io::Result<usize>> + 'a> {
        crate::await_point(std::future::poll_fn(move |cx| {
            futures_io::AsyncRead::poll_read(Pin::new(&mut *self), cx, buf)
        }))
    }

    /// Writes some of `buf`, returning how much: `AsyncWriteExt::write`.
    #[track_caller]
    pub fn write<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> AwaitPoint<impl Future<Output = io::Result<usize>> + 'a> {
        crate::await_point(std::future::poll_fn(move |cx| {
            futures_io::AsyncWrite::poll_write(Pin::new(&mut *self), cx, buf)
        }))
    }

    /// Reads exactly `buf.len()` bytes: `AsyncReadExt::read_exact`.
    #[track_caller]
    pub fn read_exact<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> At<impl Future<Output = io::Result<()>> + 'a> {
        corio_reactor::await_point::read_exact(self, buf)
    }

    /// Writes all of `buf`: `AsyncWriteExt::write_all`.
    #[track_caller]
    pub fn write_all<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> At<impl Future<Output = io::Result<()>> + 'a> {
        corio_reactor::await_point::write_all(self, buf)
    }

    /// Reads to end of stream, appending to `buf`: `AsyncReadExt::read_to_end`.
    #[track_caller]
    pub fn read_to_end<'a>(
        &'a mut self,
        buf: &'a mut Vec<u8>,
    ) -> At<impl Future<Output = io::Result<usize>> + 'a> {
        corio_reactor::await_point::read_to_end(self, buf)
    }

    /// The other end's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.conn.addrs[1 - self.end])
    }

    fn incoming(&self) -> &Mutex<Pipe> {
        &self.conn.pipes[1 - self.end]
    }

    fn outgoing(&self) -> &Mutex<Pipe> {
        &self.conn.pipes[self.end]
    }

    fn partitioned(&self, cx: &mut Context<'_>) -> bool {
        let mut st = lock(&self.net.state);
        let (a, b) = (self.conn.addrs[0].ip(), self.conn.addrs[1].ip());
        if st.partitioned(a, b) {
            st.held.push(cx.waker().clone());
            return true;
        }
        false
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.conn.is_reset() {
                return Poll::Ready(Err(reset_error()));
            }
            let due = {
                let mut p = lock(self.incoming());
                let Some((at, _)) = p.segments.front() else {
                    if p.write_closed {
                        return Poll::Ready(Ok(0));
                    }
                    p.reader = Some(cx.waker().clone());
                    return Poll::Pending;
                };
                *at
            };
            if due > super::now() {
                // In flight: wait for its delivery.
                let sleep = match &mut self.delivery {
                    Some(s) if s.deadline() == due => s,
                    slot => slot.insert(sleep_until(due)),
                };
                if Pin::new(sleep).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            if self.partitioned(cx) {
                return Poll::Pending;
            }
            let mut p = lock(self.incoming());
            let offset = p.read_offset;
            let Some((_, seg)) = p.segments.front() else {
                continue;
            };
            let n = (seg.len() - offset).min(buf.len());
            buf[..n].copy_from_slice(&seg[offset..offset + n]);
            let seg_len = seg.len();
            if offset + n == seg_len {
                p.segments.pop_front();
                p.read_offset = 0;
            } else {
                p.read_offset += n;
            }
            p.in_flight -= n;
            let writer = p.writer.take();
            drop(p);
            if let Some(w) = writer {
                w.wake();
            }
            return Poll::Ready(Ok(n));
        }
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.conn.is_reset() {
            return Poll::Ready(Err(reset_error()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let (lost, latency) = {
            let mut st = lock(&self.net.state);
            let loss = st.loss;
            (loss > 0.0 && st.rng.chance(loss), st.latency())
        };
        if lost {
            self.conn.reset();
            return Poll::Ready(Err(reset_error()));
        }
        let mut p = lock(self.outgoing());
        if p.write_closed || p.read_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "simulated stream: the write half is shut down or the peer closed",
            )));
        }
        if p.in_flight >= WINDOW {
            p.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(WINDOW - p.in_flight);
        let mut at = super::now() + latency;
        // In order: never before the previous segment.
        if let Some(last) = p.last_delivery {
            at = at.max(last);
        }
        p.last_delivery = Some(at);
        p.segments.push_back((at, buf[..n].to_vec()));
        p.in_flight += n;
        let reader = p.reader.take();
        drop(p);
        if let Some(w) = reader {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let reader = {
            let mut p = lock(self.outgoing());
            p.write_closed = true;
            p.reader.take()
        };
        if let Some(w) = reader {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        {
            let mut out = lock(self.outgoing());
            out.write_closed = true;
            wakers.extend(out.reader.take());
        }
        {
            let mut inc = lock(self.incoming());
            inc.read_closed = true;
            wakers.extend(inc.writer.take());
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}
