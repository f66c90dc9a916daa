//! Echo round-trip latency while one handler blocks its worker for 2 s: corio, tokio
//! and smol side by side (2 worker threads each).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-stalls cargo bench -p corio-benches --bench stall_latency
//! ```
//!
//! Each runtime serves an echo server of 64-byte messages; a message starting with
//! `b'B'` makes its handler call `std::thread::sleep(2 s)` on the worker (the bug a
//! stall monitor heals around). The clients are plain blocking sockets on their own
//! threads, so what is measured is the runtime under test, not a client runtime:
//! 1. connection `other` and connection `blocked` are served once (warm),
//! 2. `blocked` sends the blocking message (its handler is woken by the reactor, the
//!    worst case: the worker that waited for I/O runs it),
//! 3. for the next 2 s `other` does round trips back to back, each timed.
//!
//! The table gives p50 / p99 / max and the number of round trips completed during
//! the stall; a runtime that does not heal shows one round trip of ~2 s.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};

const MSG: usize = 64;
const STALL: Duration = Duration::from_secs(2);
const WORKERS: usize = 2;

fn block_if_asked(buf: &[u8]) {
    if buf[0] == b'B' {
        std::thread::sleep(STALL);
    }
}

/// The server side of one futures-io connection (corio and smol).
async fn echo_conn<S: futures::AsyncRead + futures::AsyncWrite + Unpin>(mut s: S) {
    let mut buf = [0u8; MSG];
    while s.read_exact(&mut buf).await.is_ok() {
        block_if_asked(&buf);
        if s.write_all(&buf).await.is_err() {
            return;
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s
}

fn round_trip(s: &mut TcpStream, first: u8) -> Duration {
    let start = Instant::now();
    let mut msg = [7u8; MSG];
    msg[0] = first;
    s.write_all(&msg).expect("write");
    let mut back = [0u8; MSG];
    s.read_exact(&mut back).expect("read");
    start.elapsed()
}

/// Steps 1-3 of the module docs against a server at `addr`; returns the latencies.
fn measure(addr: SocketAddr) -> Vec<Duration> {
    let mut other = connect(addr);
    let mut blocked = connect(addr);
    for _ in 0..100 {
        round_trip(&mut other, b'x');
    }
    round_trip(&mut blocked, b'x');
    std::thread::sleep(Duration::from_millis(20)); // every worker idle again
    blocked.write_all(&[b'B'; MSG]).expect("write");
    let start = Instant::now();
    let mut trips = Vec::new();
    while start.elapsed() < STALL {
        trips.push(round_trip(&mut other, b'x'));
    }
    let mut back = [0u8; MSG];
    blocked.read_exact(&mut back).expect("read");
    trips
}

/// A running echo server: its address and how to stop it.
type Server = (SocketAddr, Box<dyn FnOnce()>);
/// Starts one runtime's echo server.
type StartServer = fn() -> Server;

fn corio_server() -> Server {
    let rt = corio::Runtime::builder()
        .worker_threads(WORKERS)
        .on_stall(|_| {})
        .build()
        .expect("runtime");
    let listener = corio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.handle().create_task(async move {
        while let Ok((s, _)) = listener.accept().await {
            corio::create_task(echo_conn(s));
        }
    });
    (addr, Box::new(move || drop(rt)))
}

fn tokio_server() -> Server {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; MSG];
                while s.read_exact(&mut buf).await.is_ok() {
                    block_if_asked(&buf);
                    if s.write_all(&buf).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, Box::new(move || rt.shutdown_background()))
}

fn smol_server() -> Server {
    use std::sync::Arc;
    let ex = Arc::new(smol::Executor::new());
    let (stop_tx, stop_rx) = smol::channel::unbounded::<()>();
    let threads: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (ex, stop_rx) = (ex.clone(), stop_rx.clone());
            std::thread::spawn(move || smol::block_on(ex.run(stop_rx.recv())))
        })
        .collect();
    let listener = smol::block_on(smol::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let ex2 = ex.clone();
    ex.spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            ex2.spawn(echo_conn(s)).detach();
        }
    })
    .detach();
    (
        addr,
        Box::new(move || {
            drop(stop_tx);
            for t in threads {
                let _ = t.join();
            }
        }),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less args: keep it short.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("stall_latency: echo round trips during a 2 s blocking call, {WORKERS} workers");
    println!("load average before: {}", load.trim());
    println!("| runtime | round trips in 2 s | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    let servers: [(&str, StartServer); 3] = [
        ("corio", corio_server),
        ("tokio", tokio_server),
        ("smol", smol_server),
    ];
    for (name, start) in servers {
        let (addr, stop) = start();
        let mut trips = measure(addr);
        stop();
        trips.sort();
        println!(
            "| {name} | {} | {:.1?} | {:.1?} | {:.1?} |",
            trips.len(),
            percentile(&trips, 0.5),
            percentile(&trips, 0.99),
            trips.last().copied().unwrap_or_default()
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
}
