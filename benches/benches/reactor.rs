//! Reactor benches: TCP echo on loopback and 100,000 sleeps, corio side by side
//! with tokio and smol in one criterion group per workload.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-reactor cargo bench -p corio-benches --bench reactor -- \
//!     --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Two threading set-ups per workload, each labelled:
//! - `*_2w`: a multi-thread executor with 2 workers. corio = corio-scheduler with
//!   a [`Park`](corio_scheduler::Park) hook backed by corio-reactor (what the
//!   facade's `Runtime` will wire: `park = try_drive`, `unpark = notify`,
//!   `poll_ready = try_drive(0)`, one `register_driver` guard); tokio =
//!   multi-thread runtime; smol = `async_executor::Executor` run by 2 threads
//!   (each in `smol::block_on`, the usual smol set-up).
//! - `*_1t`: everything on the calling thread. corio = `corio_reactor::block_on`
//!   over a `FuturesUnordered`; tokio = current-thread runtime with spawned
//!   tasks; smol = `LocalExecutor` inside `smol::block_on`.
//!
//! Until the facade exists the corio side is corio-scheduler + this hook (the
//! lead switches it to `corio::Runtime` later).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use corio_benches::ReactorPark;
use corio_reactor::Reactor;
use criterion::{criterion_group, criterion_main, Criterion};
use futures::stream::FuturesUnordered;
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;

/// The issue's figures: 50 connections x 2,000 round trips of 64 bytes.
const CONNS: usize = 50;
const ROUNDS: usize = 2_000;
const MSG: usize = 64;
/// 100,000 timers per iteration, each 10 ms: long enough that creating and
/// registering all of them (~8 ms) ends before the first is due, so every
/// timer goes through the timer structure (insert, fire, wake); the 10 ms is a
/// floor common to all.
const SLEEPS: usize = 100_000;
const SLEEP: Duration = Duration::from_millis(10);
const WORKERS: usize = 2;

// ---- corio and smol (both futures-io streams) ----------------------------------

/// The server side of one connection: echoes until the peer closes.
async fn echo_conn<S: futures::AsyncRead + futures::AsyncWrite + Unpin>(mut s: S) {
    let mut buf = [0u8; MSG];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A client's [`ROUNDS`] round trips of [`MSG`] bytes on a connected stream.
async fn client_rounds<S: futures::AsyncRead + futures::AsyncWrite + Unpin>(mut s: S) {
    let out = [7u8; MSG];
    let mut back = [0u8; MSG];
    for _ in 0..ROUNDS {
        s.write_all(&out).await.expect("write");
        s.read_exact(&mut back).await.expect("read");
    }
}

// ---- corio -------------------------------------------------------------------

fn corio_executor() -> corio_scheduler::Executor {
    corio_scheduler::Builder::new()
        .worker_threads(WORKERS)
        .park_hook(Arc::new(ReactorPark))
        .build()
        .expect("corio executor")
}

async fn corio_client(addr: std::net::SocketAddr) {
    let s = corio_reactor::net::TcpStream::connect(addr)
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    client_rounds(s).await;
}

fn corio_echo_2w(ex: &corio_scheduler::Executor) {
    let h = ex.handle().clone();
    ex.block_on(async move {
        let listener = corio_reactor::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let h2 = h.clone();
        let server = h.spawn(async move {
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.expect("accept");
                s.set_nodelay(true).expect("nodelay");
                drop(h2.spawn(echo_conn(s)));
            }
        });
        let clients: Vec<_> = (0..CONNS).map(|_| h.spawn(corio_client(addr))).collect();
        for c in clients {
            c.await.expect("client task");
        }
        server.await.expect("server task");
    });
}

fn corio_echo_1t() {
    use std::task::Poll;
    corio_reactor::block_on(async {
        let listener = corio_reactor::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut clients: FuturesUnordered<_> = (0..CONNS).map(|_| corio_client(addr)).collect();
        let mut conns = FuturesUnordered::new();
        let mut accepted = 0;
        // One task polling the listener, the server sides and the clients.
        std::future::poll_fn(|cx| {
            while accepted < CONNS {
                match listener.poll_accept(cx) {
                    Poll::Ready(Ok((s, _))) => {
                        s.set_nodelay(true).expect("nodelay");
                        conns.push(echo_conn(s));
                        accepted += 1;
                    }
                    Poll::Ready(Err(e)) => panic!("accept: {e}"),
                    Poll::Pending => break,
                }
            }
            while let Poll::Ready(Some(())) = conns.poll_next_unpin(cx) {}
            loop {
                match clients.poll_next_unpin(cx) {
                    Poll::Ready(Some(())) => {}
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
    });
}

fn corio_sleeps_2w(ex: &corio_scheduler::Executor) {
    let h = ex.handle().clone();
    ex.block_on(async move {
        let tasks: Vec<_> = (0..SLEEPS)
            .map(|_| h.spawn(corio_reactor::timer::sleep(SLEEP)))
            .collect();
        for t in tasks {
            t.await.expect("sleep task");
        }
    });
}

fn corio_sleeps_1t() {
    corio_reactor::block_on(async {
        let mut all: FuturesUnordered<_> = (0..SLEEPS)
            .map(|_| corio_reactor::timer::sleep(SLEEP))
            .collect();
        while all.next().await.is_some() {}
    });
}

// ---- tokio -------------------------------------------------------------------

/// tokio's multi-thread runtime with [`WORKERS`] workers and its I/O and timer drivers.
fn tokio_multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("tokio")
}

/// tokio's current-thread runtime with its I/O and timer drivers.
fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
}

async fn tokio_echo_conn(mut s: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; MSG];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn tokio_client(addr: std::net::SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let out = [7u8; MSG];
    let mut back = [0u8; MSG];
    for _ in 0..ROUNDS {
        s.write_all(&out).await.expect("write");
        s.read_exact(&mut back).await.expect("read");
    }
}

fn tokio_echo(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.expect("accept");
                s.set_nodelay(true).expect("nodelay");
                tokio::spawn(tokio_echo_conn(s));
            }
        });
        let clients: Vec<_> = (0..CONNS)
            .map(|_| tokio::spawn(tokio_client(addr)))
            .collect();
        for c in clients {
            c.await.expect("client task");
        }
        server.await.expect("server task");
    });
}

fn tokio_sleeps(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let tasks: Vec<_> = (0..SLEEPS)
            .map(|_| tokio::spawn(tokio::time::sleep(SLEEP)))
            .collect();
        for t in tasks {
            t.await.expect("sleep task");
        }
    });
}

fn tokio_sleeps_1t(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let mut all: FuturesUnordered<_> = (0..SLEEPS).map(|_| tokio::time::sleep(SLEEP)).collect();
        while all.next().await.is_some() {}
    });
}

// ---- smol --------------------------------------------------------------------

struct SmolPool {
    ex: Arc<async_executor::Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl SmolPool {
    fn new() -> SmolPool {
        let ex = Arc::new(async_executor::Executor::new());
        let (tx, rx) = smol::channel::bounded::<()>(1);
        let threads = (0..WORKERS)
            .map(|_| {
                let (ex, rx) = (ex.clone(), rx.clone());
                std::thread::spawn(move || {
                    let _ = smol::block_on(ex.run(rx.recv()));
                })
            })
            .collect();
        SmolPool {
            ex,
            stop: Some(tx),
            threads,
        }
    }
}

impl Drop for SmolPool {
    fn drop(&mut self) {
        self.stop.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

async fn smol_client(addr: std::net::SocketAddr) {
    let s = smol::net::TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    client_rounds(s).await;
}

fn smol_echo_2w(pool: &SmolPool) {
    let ex = pool.ex.clone();
    smol::block_on(async move {
        let listener = smol::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let ex2 = ex.clone();
        let server = ex.spawn(async move {
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.expect("accept");
                s.set_nodelay(true).expect("nodelay");
                ex2.spawn(echo_conn(s)).detach();
            }
        });
        let clients: Vec<_> = (0..CONNS).map(|_| ex.spawn(smol_client(addr))).collect();
        for c in clients {
            c.await;
        }
        server.await;
    });
}

fn smol_echo_1t() {
    let ex = std::rc::Rc::new(async_executor::LocalExecutor::<'static>::new());
    let inner = ex.clone();
    smol::block_on(ex.run(async move {
        let listener = smol::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let ex2 = inner.clone();
        let server = inner.spawn(async move {
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.expect("accept");
                s.set_nodelay(true).expect("nodelay");
                ex2.spawn(echo_conn(s)).detach();
            }
        });
        let clients: Vec<_> = (0..CONNS).map(|_| inner.spawn(smol_client(addr))).collect();
        for c in clients {
            c.await;
        }
        server.await;
    }));
}

fn smol_sleeps_2w(pool: &SmolPool) {
    let ex = pool.ex.clone();
    smol::block_on(async move {
        let tasks: Vec<_> = (0..SLEEPS)
            .map(|_| {
                ex.spawn(async {
                    smol::Timer::after(SLEEP).await;
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
}

fn smol_sleeps_1t() {
    smol::block_on(async {
        let mut all: FuturesUnordered<_> = (0..SLEEPS).map(|_| smol::Timer::after(SLEEP)).collect();
        while all.next().await.is_some() {}
    });
}

// ---- paired report --------------------------------------------------------------

/// With `CORIO_BENCH_PAIRED=<rounds>` set, runs every variant of one workload
/// in turn, `rounds` times (corio, tokio, smol, corio, ...), and prints each
/// one's median: on a shared, loaded 2-core machine the variants then see the
/// same load, which criterion's one-after-the-other groups do not guarantee.
fn paired(what: &str, variants: &[(&str, &dyn Fn())]) {
    let Some(rounds) = std::env::var("CORIO_BENCH_PAIRED")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    // CORIO_BENCH_PAIRED_ONLY=<substring> restricts the report to matching workloads.
    if let Ok(only) = std::env::var("CORIO_BENCH_PAIRED_ONLY") {
        if !what.contains(&only) {
            return;
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in variants.iter().enumerate() {
            let start = std::time::Instant::now();
            f();
            times[i].push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!("== paired {what}: {rounds} alternating rounds, median ms");
    for ((name, _), t) in variants.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        println!("{what}/{name:<10} {:>9.2} ms", t[t.len() / 2]);
    }
}

fn paired_report() {
    if std::env::var("CORIO_BENCH_PAIRED").is_err() {
        return;
    }
    {
        // Multi-thread set-ups. The corio executor is dropped before the
        // one-thread runs: while it lives, an idle worker waits in the reactor
        // and a `corio_reactor::block_on` thread would not be the driver.
        let ex = corio_executor();
        let driver = Reactor::get().register_driver();
        let tokio_mt = tokio_multi_thread();
        let pool = SmolPool::new();
        paired(
            "tcp_echo_50x2000",
            &[
                ("corio_2w", &|| corio_echo_2w(&ex)),
                ("tokio_2w", &|| tokio_echo(&tokio_mt)),
                ("smol_2w", &|| smol_echo_2w(&pool)),
            ],
        );
        paired(
            "sleep_100k",
            &[
                ("corio_2w", &|| corio_sleeps_2w(&ex)),
                ("tokio_2w", &|| tokio_sleeps(&tokio_mt)),
                ("smol_2w", &|| smol_sleeps_2w(&pool)),
            ],
        );
        drop(driver);
    }
    let tokio_ct = tokio_current_thread();
    paired(
        "tcp_echo_50x2000",
        &[
            ("corio_1t", &corio_echo_1t),
            ("tokio_1t", &|| tokio_echo(&tokio_ct)),
            ("smol_1t", &smol_echo_1t),
        ],
    );
    // tokio_1t is left out: it takes seconds here (see benches/README.md).
    paired(
        "sleep_100k",
        &[("corio_1t", &corio_sleeps_1t), ("smol_1t", &smol_sleeps_1t)],
    );
}

// ---- groups ------------------------------------------------------------------

/// One workload's six variants, each a function of the set-up it runs on (built
/// by [`bench_workload`], one at a time).
struct Workload {
    corio_2w: fn(&corio_scheduler::Executor),
    tokio_2w: fn(&tokio::runtime::Runtime),
    smol_2w: fn(&SmolPool),
    corio_1t: fn(),
    tokio_1t: fn(&tokio::runtime::Runtime),
    smol_1t: fn(),
}

/// The criterion group `name`: each variant with its set-up alive only while it
/// is measured (the corio executor is dropped before the one-thread runs: while
/// it lives, an idle worker waits in the reactor and a `corio_reactor::block_on`
/// thread would not be the driver).
fn bench_workload(c: &mut Criterion, name: &str, w: &Workload) {
    let mut g = c.benchmark_group(name);
    // One iteration is 100,000 round trips (~0.5 s) or 100,000 sleeps of 10 ms:
    // 10 samples are plenty.
    g.sample_size(10);
    {
        let ex = corio_executor();
        let _driver = Reactor::get().register_driver();
        g.bench_function("corio_2w", |b| b.iter(|| (w.corio_2w)(&ex)));
    }
    {
        let rt = tokio_multi_thread();
        g.bench_function("tokio_2w", |b| b.iter(|| (w.tokio_2w)(&rt)));
    }
    {
        let pool = SmolPool::new();
        g.bench_function("smol_2w", |b| b.iter(|| (w.smol_2w)(&pool)));
    }
    g.bench_function("corio_1t", |b| b.iter(w.corio_1t));
    {
        let rt = tokio_current_thread();
        g.bench_function("tokio_1t", |b| b.iter(|| (w.tokio_1t)(&rt)));
    }
    g.bench_function("smol_1t", |b| b.iter(w.smol_1t));
    g.finish();
}

fn tcp_echo(c: &mut Criterion) {
    paired_report();
    bench_workload(
        c,
        "tcp_echo_50x2000",
        &Workload {
            corio_2w: corio_echo_2w,
            tokio_2w: tokio_echo,
            smol_2w: smol_echo_2w,
            corio_1t: corio_echo_1t,
            tokio_1t: tokio_echo,
            smol_1t: smol_echo_1t,
        },
    );
}

fn sleeps(c: &mut Criterion) {
    bench_workload(
        c,
        "sleep_100k",
        &Workload {
            corio_2w: corio_sleeps_2w,
            tokio_2w: tokio_sleeps,
            smol_2w: smol_sleeps_2w,
            corio_1t: corio_sleeps_1t,
            tokio_1t: tokio_sleeps_1t,
            smol_1t: smol_sleeps_1t,
        },
    );
}

criterion_group!(benches, tcp_echo, sleeps);
criterion_main!(benches);
