//! Request/reply over corio's `StreamReader`/`StreamWriter` against the raw
//! `corio::net::TcpStream` underneath them (what the stream layer costs),
//! with tokio's `TcpStream` alongside. One persistent loopback connection, a
//! 64-byte request answered by a 64-byte reply; the time is per round trip.
//! The streams side never calls `drain` (the writer sends at once).
//!
//! `cargo bench -p corio-benches --bench streams -- --warm-up-time 1 --measurement-time 3`
//!
//! After criterion, a paired run alternates the three for 21 rounds of
//! `ROUND_TRIPS` each and prints medians and ratios (same machine load for all).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes per request and per reply.
const MSG: usize = 64;
/// Worker threads: the machines have 2 cores.
const WORKERS: usize = 2;
/// Round trips per paired round.
const ROUND_TRIPS: u64 = 5_000;

fn corio_runtime() -> corio::Runtime {
    corio::Runtime::builder()
        .worker_threads(WORKERS)
        .build()
        .expect("building the corio runtime")
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("building the tokio runtime")
}

/// A client connection of one of the three kinds.
enum Client {
    Raw(corio::net::TcpStream),
    Streams(Box<(corio::StreamReader, corio::StreamWriter)>),
    Tokio(tokio::net::TcpStream),
}

/// A raw corio echo server of fixed-size messages; returns its address.
fn corio_raw_server(rt: &corio::Runtime) -> std::net::SocketAddr {
    rt.block_on(async {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(corio::create_task(async move {
            while let Ok((s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                drop(corio::create_task(async move {
                    let mut buf = [0u8; MSG];
                    while s.read_exact(&mut buf).await.is_ok() {
                        if s.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                }));
            }
        }));
        addr
    })
}

/// The same server written with asyncio's streams (no drain).
fn corio_streams_server(rt: &corio::Runtime) -> (corio::Server, std::net::SocketAddr) {
    rt.block_on(async {
        let server = corio::start_server(
            |mut r: corio::StreamReader, mut w: corio::StreamWriter| async move {
                while let Ok(msg) = r.readexactly(MSG).await {
                    w.write(&msg);
                }
            },
            "127.0.0.1:0",
        )
        .await
        .expect("start_server");
        let addr = server.local_addr().expect("addr");
        (server, addr)
    })
}

fn tokio_server(rt: &tokio::runtime::Runtime) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let mut buf = [0u8; MSG];
                    while s.read_exact(&mut buf).await.is_ok() {
                        if s.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    })
}

impl Client {
    /// `n` round trips; checks each reply.
    async fn round_trips(&mut self, n: u64) {
        let req = [7u8; MSG];
        match self {
            Client::Raw(s) => {
                let mut buf = [0u8; MSG];
                for _ in 0..n {
                    s.write_all(&req).await.expect("write");
                    s.read_exact(&mut buf).await.expect("read");
                    assert_eq!(buf, req);
                }
            }
            Client::Streams(rw) => {
                let (r, w) = &mut **rw;
                for _ in 0..n {
                    w.write(&req);
                    let reply = r.readexactly(MSG).await.expect("read");
                    assert_eq!(reply, req);
                }
            }
            Client::Tokio(s) => {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; MSG];
                for _ in 0..n {
                    s.write_all(&req).await.expect("write");
                    s.read_exact(&mut buf).await.expect("read");
                    assert_eq!(buf, req);
                }
            }
        }
    }
}

/// Everything one comparison needs, kept alive for the whole run.
struct Setup {
    corio_rt: corio::Runtime,
    tokio_rt: tokio::runtime::Runtime,
    raw: Client,
    streams: Client,
    tokio: Client,
    _server: corio::Server,
}

fn setup() -> Setup {
    let corio_rt = corio_runtime();
    let tokio_rt = tokio_runtime();
    let raw_addr = corio_raw_server(&corio_rt);
    let (server, streams_addr) = corio_streams_server(&corio_rt);
    let tokio_addr = tokio_server(&tokio_rt);
    let raw = corio_rt.block_on(async {
        let s = corio::net::TcpStream::connect(raw_addr)
            .await
            .expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Client::Raw(s)
    });
    let streams = corio_rt.block_on(async {
        let (r, w) = corio::open_connection(streams_addr).await.expect("connect");
        Client::Streams(Box::new((r, w)))
    });
    let tokio = tokio_rt.block_on(async {
        let s = tokio::net::TcpStream::connect(tokio_addr)
            .await
            .expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Client::Tokio(s)
    });
    Setup {
        corio_rt,
        tokio_rt,
        raw,
        streams,
        tokio,
        _server: server,
    }
}

impl Setup {
    fn run(&mut self, which: usize, n: u64) -> Duration {
        let start = Instant::now();
        match which {
            0 => self.corio_rt.block_on(self.raw.round_trips(n)),
            1 => self.corio_rt.block_on(self.streams.round_trips(n)),
            _ => self.tokio_rt.block_on(self.tokio.round_trips(n)),
        }
        start.elapsed()
    }
}

const NAMES: [&str; 3] = ["corio_raw_tcp", "corio_streams", "tokio_tcp"];

fn bench(c: &mut Criterion) {
    let mut s = setup();
    let mut g = c.benchmark_group("request_reply_64B");
    for (which, name) in NAMES.iter().enumerate() {
        g.bench_function(*name, |b| b.iter_custom(|iters| s.run(which, iters)));
    }
    g.finish();
    report_paired(&mut s);
}

/// Alternates the three clients so they share the machine's load; prints the
/// median µs per round trip and the ratios.
fn report_paired(s: &mut Setup) {
    const ROUNDS: usize = 21;
    let mut times: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (which, t) in times.iter_mut().enumerate() {
            let d = s.run(which, ROUND_TRIPS);
            t.push(d.as_secs_f64() * 1e6 / ROUND_TRIPS as f64);
        }
    }
    let med: Vec<f64> = times
        .iter_mut()
        .map(|t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect();
    println!(
        "paired ({ROUNDS} rounds x {ROUND_TRIPS} round trips, median us/round trip): \
         corio_raw_tcp {:.2}, corio_streams {:.2}, tokio_tcp {:.2}; \
         streams/raw {:.3}, streams/tokio {:.3}, raw/tokio {:.3}",
        med[0],
        med[1],
        med[2],
        med[1] / med[0],
        med[1] / med[2],
        med[0] / med[2]
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
