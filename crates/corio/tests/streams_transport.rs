//! StreamWriter/StreamReader follow asyncio's transport: write sends at once,
//! drain is back-pressure, close closes (the own reader sees end of stream),
//! errors are stored and raised before buffered data, readuntil sees late
//! separators, and the futures-io traits work.

mod sync_support;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use corio::streams::{
    open_connection, open_unix_connection_with, start_server, start_unix_server,
    start_unix_server_with, StreamConfig, StreamReader, StreamWriter,
};
use sync_support::{eventually, raise_nofile, run_timeout, with_timeout};

const STEP: Duration = Duration::from_secs(10);

/// A server that answers each line with "re: <line>" using write only.
async fn reply_no_drain(mut r: StreamReader, mut w: StreamWriter) {
    while let Ok(line) = r.readline().await {
        if line.is_empty() {
            break;
        }
        w.write(b"re: ");
        w.write(&line);
    }
}

fn temp_socket(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("corio-{name}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Round trips where neither side ever calls drain; asyncio's docs do this. If an
/// undrained write were never sent, a reply would not come and `STEP` fails the test;
/// how fast the replies come is not checked (speed belongs in the benchmarks).
async fn request_reply_without_drain(mut r: StreamReader, mut w: StreamWriter) {
    for i in 0..10 {
        let msg = format!("request {i}\n");
        w.write(msg.as_bytes());
        let reply = corio::wait_for(r.readline(), STEP)
            .await
            .expect("the reply came without drain")
            .unwrap();
        assert_eq!(reply, format!("re: {msg}").as_bytes());
    }
}

#[test]
fn write_without_drain_request_reply_tcp() {
    run_timeout(async {
        let server = start_server(reply_no_drain, "127.0.0.1:0").await.unwrap();
        let (r, w) = open_connection(server.local_addr().unwrap()).await.unwrap();
        request_reply_without_drain(r, w).await;
    });
}

#[test]
fn write_without_drain_request_reply_unix() {
    let path = temp_socket("nodrain");
    let p = path.clone();
    run_timeout(async move {
        let _server = start_unix_server(reply_no_drain, &p).await.unwrap();
        let (r, w) = corio::streams::open_unix_connection(&p).await.unwrap();
        request_reply_without_drain(r, w).await;
    });
    let _ = std::fs::remove_file(&path);
}

/// Big writes without drain still all arrive (the flusher sends the rest).
#[test]
fn large_write_without_drain_is_flushed_in_the_background() {
    run_timeout(async {
        let (a, b) = corio::net::UnixStream::pair().unwrap();
        let mut w = StreamWriter::new(a);
        let mut r = StreamReader::new(b);
        let data: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        w.write(&data);
        assert!(
            w.get_write_buffer_size() > 0,
            "a socket does not take 4 MiB at once"
        );
        let got = corio::wait_for(r.readexactly(data.len()), STEP)
            .await
            .expect("the buffer drains with nobody calling drain")
            .unwrap();
        assert!(got == data, "bytes differ");
        assert_eq!(w.get_write_buffer_size(), 0);
    });
}

#[test]
fn close_feeds_eof_to_the_own_reader_after_buffered_data() {
    run_timeout(async {
        let (peer_tx, peer_rx) = std::sync::mpsc::channel();
        let server = start_server(
            move |mut r: StreamReader, mut w: StreamWriter| {
                let peer_tx = peer_tx.clone();
                async move {
                    w.write(b"abc\n");
                    // Never closes: the client's reader must get EOF from its own close.
                    let rest = corio::wait_for(r.read_to_end(), STEP).await;
                    let _ = peer_tx.send(rest.map(|r| r.map_err(|e| e.kind())));
                    drop(w);
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (mut r, mut w) = open_connection(server.local_addr().unwrap()).await.unwrap();
        assert_eq!(r.readexactly(1).await.unwrap(), b"a");
        let buffered = r.buffered();
        w.write(b"bye");
        w.close();
        assert!(w.is_closing());
        // What was buffered, then EOF: no hang although the peer keeps its side open.
        let rest = corio::wait_for(r.read_to_end(), STEP)
            .await
            .expect("own reader sees EOF after close")
            .unwrap();
        assert_eq!(rest.len(), buffered);
        assert!(b"bc\n".starts_with(&rest));
        assert!(r.at_eof());
        assert_eq!(r.read(10).await.unwrap(), b"");
        corio::wait_for(w.wait_closed(), STEP)
            .await
            .unwrap()
            .unwrap();
        // The peer got the bytes written before close, then EOF.
        let seen = corio::wait_for(corio::to_thread(move || peer_rx.recv()), STEP)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(seen.unwrap().unwrap(), b"bye");
    });
}

/// CPython test_streams: test_eof_feed_when_closing_writer.
#[test]
fn eof_feed_when_closing_writer() {
    run_timeout(async {
        let server = start_server(|_r, _w| async {}, "127.0.0.1:0")
            .await
            .unwrap();
        let (mut r, mut w) = open_connection(server.local_addr().unwrap()).await.unwrap();
        w.close();
        corio::wait_for(w.wait_closed(), STEP)
            .await
            .unwrap()
            .unwrap();
        assert!(r.at_eof());
        assert_eq!(r.read_to_end().await.unwrap(), b"");
        // asyncio: drain after the connection is lost raises ConnectionResetError.
        assert_eq!(
            w.drain().await.unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
    });
}

#[test]
fn at_eof_as_soon_as_eof_arrived() {
    let path = temp_socket("ateof");
    let p = path.clone();
    run_timeout(async move {
        let _server = start_unix_server(
            |_r, mut w: StreamWriter| async move {
                w.write(b"x");
                w.close();
            },
            &p,
        )
        .await
        .unwrap();
        let (mut r, _w) = corio::streams::open_unix_connection(&p).await.unwrap();
        assert_eq!(r.readexactly(1).await.unwrap(), b"x");
        // No read has seen the end of stream: at_eof looks at the socket.
        // A `&mut` in the closure keeps the future Send (the reader is not Sync).
        let reader = &mut r;
        eventually(STEP, "at_eof after the peer closed", move || {
            reader.at_eof()
        })
        .await;
        assert_eq!(r.read(1).await.unwrap(), b"");
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn write_error_is_raised_before_buffered_data() {
    run_timeout(async {
        let server = start_server(
            |_r, mut w: StreamWriter| async move {
                w.write(b"data\n");
                // Returning drops both halves: the connection closes.
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (mut r, mut w) = open_connection(server.local_addr().unwrap()).await.unwrap();
        assert_eq!(r.readexactly(1).await.unwrap(), b"d");
        assert_eq!(r.buffered(), 4, "one segment: the rest is buffered");
        // Writing to the closed peer fails (RST, then EPIPE); the error is fatal.
        let deadline = Instant::now() + STEP;
        let err = loop {
            w.write(b"ping");
            if let Err(e) = w.drain().await {
                break e;
            }
            assert!(
                Instant::now() < deadline,
                "writes to a closed peer kept succeeding"
            );
            corio::sleep(Duration::from_millis(2)).await;
        };
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
        assert!(w.is_closing());
        // The reader raises the stored error although "ata\n" is buffered (asyncio).
        let e = r.read(100).await.unwrap_err();
        assert_eq!(e.kind(), err.kind());
        assert_eq!(r.exception().unwrap().kind(), err.kind());
        assert!(r.readline().await.unwrap_err().io_error().is_some());
        // wait_closed reports the same error, every time.
        assert_eq!(w.wait_closed().await.unwrap_err().kind(), err.kind());
        assert_eq!(w.wait_closed().await.unwrap_err().kind(), err.kind());
    });
}

#[test]
fn set_exception_wakes_a_waiting_read_and_beats_buffered_data() {
    run_timeout(async {
        let (a, b) = corio::net::UnixStream::pair().unwrap();
        let mut r = StreamReader::new(a);
        let feeder = r.feeder();
        let mut w = StreamWriter::new(b);
        w.write(b"buffered");
        assert_eq!(r.readexactly(3).await.unwrap(), b"buf");
        assert_eq!(r.read(100).await.unwrap(), b"fered");
        // Waits for data (none comes); set_exception wakes it with the error.
        let waiting = corio::create_task(async move {
            let e = r.read(100).await.map_err(|e| e.kind());
            (e, r)
        });
        corio::sleep(Duration::from_millis(20)).await;
        feeder.set_exception(std::io::Error::other("boom"));
        let (res, mut r) = corio::wait_for(waiting, STEP).await.unwrap().unwrap();
        assert_eq!(res.unwrap_err(), ErrorKind::Other);
        // Later bytes do not get past the stored exception.
        w.write(b"more");
        corio::wait_for(w.drain(), STEP).await.unwrap().unwrap();
        let e = r.readexactly(4).await.unwrap_err();
        assert_eq!(e.to_string(), "stream read failed: boom");
    });
}

#[test]
fn readuntil_sees_a_separator_that_arrived_after_an_overrun() {
    let path = temp_socket("overrun");
    let p = path.clone();
    run_timeout(async move {
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let go_rx = std::sync::Arc::new(std::sync::Mutex::new(go_rx));
        let (sent_tx, sent_rx) = std::sync::mpsc::channel::<()>();
        let server = start_unix_server(
            move |_r, mut w: StreamWriter| {
                let go_rx = go_rx.clone();
                let sent_tx = sent_tx.clone();
                async move {
                    w.write(&[b'x'; 20]);
                    let go = go_rx.clone();
                    let _ = corio::to_thread(move || go.lock().unwrap().recv()).await;
                    // A Unix socket's write puts the bytes in the peer's queue.
                    w.write(b"\nnext\n");
                    corio::wait_for(w.drain(), STEP).await.unwrap().unwrap();
                    let _ = sent_tx.send(());
                    let _ = corio::sleep(STEP).await;
                }
            },
            &p,
        )
        .await
        .unwrap();
        let (mut r, _w) = open_unix_connection_with(&p, StreamConfig::new().limit(16))
            .await
            .unwrap();
        assert_eq!(r.limit(), 16);
        let read_err = r.readuntil(b"\n").await.unwrap_err();
        let e = read_err
            .limit_overrun()
            .unwrap_or_else(|| panic!("expected LimitOverrun, got {read_err:?}"));
        assert!(e.to_string().contains("not found"), "{e}");
        assert_eq!(r.buffered(), 20, "the data stays buffered");
        go_tx.send(()).unwrap();
        corio::wait_for(corio::to_thread(move || sent_rx.recv()), STEP)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        // The separator is in the socket, not yet in the buffer: readuntil takes
        // it in before judging, and reports it found beyond the limit.
        let read_err = r.readuntil(b"\n").await.unwrap_err();
        let e = read_err
            .limit_overrun()
            .unwrap_or_else(|| panic!("expected LimitOverrun, got {read_err:?}"));
        assert!(e.to_string().contains("found after 20 bytes"), "{e}");
        assert_eq!(e.consumed(), 20);
        // readline drops the long line through its separator; the next is intact.
        assert!(r.readline().await.unwrap_err().is_limit_overrun());
        assert_eq!(r.readline().await.unwrap(), b"next\n");
        server.close();
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn readuntil_with_several_separators_over_a_socket() {
    let path = temp_socket("seps");
    let p = path.clone();
    run_timeout(async move {
        let _server = start_unix_server_with(
            |_r, mut w: StreamWriter| async move {
                for part in [&b"GET / HTTP/1.1\r"[..], b"\nHost: x\n", b"\r\n", b"tail"] {
                    w.write(part);
                    corio::sleep(Duration::from_millis(5)).await;
                }
                w.close();
                let _ = w.wait_closed().await;
            },
            &p,
            StreamConfig::new(),
        )
        .await
        .unwrap();
        let (mut r, _w) = corio::streams::open_unix_connection(&p).await.unwrap();
        let seps: [&[u8]; 2] = [b"\r\n", b"\n"];
        assert_eq!(r.readuntil(&seps).await.unwrap(), b"GET / HTTP/1.1\r\n");
        assert_eq!(r.readuntil(&seps).await.unwrap(), b"Host: x\n");
        assert_eq!(r.readuntil(&seps).await.unwrap(), b"\r\n");
        let read_err = r.readuntil(&seps).await.unwrap_err();
        let e = read_err
            .incomplete_read()
            .unwrap_or_else(|| panic!("expected IncompleteRead, got {read_err:?}"));
        assert_eq!(e.partial(), b"tail");
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn write_eof_half_closes_and_reading_goes_on() {
    run_timeout(async {
        let server = start_server(
            |mut r: StreamReader, mut w: StreamWriter| async move {
                let all = r.read_to_end().await.unwrap();
                w.write(format!("got {} bytes", all.len()).as_bytes());
                w.close();
                let _ = w.wait_closed().await;
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (mut r, mut w) = open_connection(server.local_addr().unwrap()).await.unwrap();
        assert!(w.can_write_eof());
        w.write(b"12345");
        w.write_eof().unwrap();
        w.write_eof().unwrap(); // a second time does nothing
        assert!(!w.is_closing());
        w.write(b"late");
        assert_eq!(w.drain().await.unwrap_err().kind(), ErrorKind::BrokenPipe);
        let reply = corio::wait_for(r.read_to_end(), STEP)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply, b"got 5 bytes");
    });
}

#[test]
fn dropping_the_writer_closes_after_sending() {
    run_timeout(async {
        let (a, b) = corio::net::UnixStream::pair().unwrap();
        let mut w = StreamWriter::new(a);
        let big = vec![3u8; 1 << 20];
        w.write(&big);
        drop(w);
        let mut r = StreamReader::new(b);
        let all = corio::wait_for(r.read_to_end(), STEP)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(all.len(), big.len());
    });
}

#[test]
fn water_marks_follow_asyncio() {
    run_timeout(async {
        let (a, _b) = corio::net::UnixStream::pair().unwrap();
        let mut w = StreamWriter::new(a);
        assert_eq!(w.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
        w.set_write_buffer_limits(None, Some(1000)).unwrap();
        assert_eq!(w.get_write_buffer_limits(), (1000, 4000));
        w.set_write_buffer_limits(Some(0), None).unwrap();
        assert_eq!(w.get_write_buffer_limits(), (0, 0));
        let e = w.set_write_buffer_limits(Some(1), Some(2)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        // Nobody reads: fill the socket, then one byte over high=0 pauses drain.
        w.set_write_buffer_limits(Some(1 << 16), None).unwrap();
        let chunk = vec![0u8; 1 << 16];
        while w.get_write_buffer_size() == 0 {
            w.write(&chunk);
        }
        w.set_write_buffer_limits(Some(0), None).unwrap();
        assert!(corio::wait_for(w.drain(), Duration::from_millis(50))
            .await
            .is_err());
        // Raising the marks does not resume by itself (asyncio neither): the
        // writer stays paused until the buffer is down to the low mark.
        w.set_write_buffer_limits(Some(1 << 30), None).unwrap();
        assert!(corio::wait_for(w.drain(), Duration::from_millis(50))
            .await
            .is_err());
    });
}

#[test]
fn futures_io_traits() {
    use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    run_timeout(async {
        let (a, b) = corio::net::UnixStream::pair().unwrap();
        let mut w = StreamWriter::new(a);
        let mut r = StreamReader::new(b);
        // AsyncWrite: write_all + flush + close.
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8 + b'a').collect();
        let mut text = b"first line\nsecond line\n".to_vec();
        text.extend_from_slice(&payload);
        let writer = corio::create_task(async move {
            w.write_all(&text).await.unwrap();
            w.flush().await.unwrap();
            assert_eq!(w.get_write_buffer_size(), 0);
            AsyncWriteExt::close(&mut w).await.unwrap();
        });
        // AsyncBufRead: read_line; AsyncRead: read_to_end.
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "first line\n");
        let mut lines = (&mut r).lines();
        use futures::StreamExt;
        assert_eq!(lines.next().await.unwrap().unwrap(), "second line");
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut r, &mut rest).await.unwrap();
        assert!(rest == payload);
        corio::wait_for(writer, STEP).await.unwrap().unwrap();
        // futures::io::copy between a reader and a writer.
        let (a, b) = corio::net::UnixStream::pair().unwrap();
        let (c, d) = corio::net::UnixStream::pair().unwrap();
        let mut src_w = StreamWriter::new(a);
        let src_r = StreamReader::new(b);
        let mut dst_w = StreamWriter::new(c);
        let mut dst_r = StreamReader::new(d);
        src_w.write(b"copied through futures::io::copy");
        src_w.close();
        let n = futures::io::copy_buf(src_r, &mut dst_w).await.unwrap();
        assert_eq!(n, 32);
        dst_w.close();
        assert_eq!(
            dst_r.read_to_end().await.unwrap(),
            b"copied through futures::io::copy"
        );
    });
}

/// 1,000 concurrent clients x 100 request/reply round trips; clients never
/// call drain. Every reply is checked byte for byte.
#[test]
fn thousand_clients_hundred_round_trips_without_drain() {
    const CLIENTS: usize = 1_000;
    const ROUNDS: usize = 100;
    let limit = raise_nofile(4096);
    assert!(
        limit >= 2 * CLIENTS as u64 + 64,
        "RLIMIT_NOFILE hard limit too low: {limit}"
    );
    // Generous: 100,000 round trips in a debug build on a loaded 2-core box.
    let elapsed = with_timeout(Duration::from_secs(300), || {
        corio::run(async {
            let server = start_server(
                |mut r: StreamReader, mut w: StreamWriter| async move {
                    while let Ok(line) = r.readline().await {
                        if line.is_empty() {
                            break;
                        }
                        w.write(&line);
                        if w.drain().await.is_err() {
                            break;
                        }
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let addr = server.local_addr().unwrap();
            let start = Instant::now();
            let clients: Vec<_> = (0..CLIENTS)
                .map(|i| {
                    corio::create_task(async move {
                        let (mut r, mut w) = open_connection(addr).await?;
                        for round in 0..ROUNDS {
                            // Varying lengths, so replies are not all one size.
                            let msg = format!("{i}:{round}:{}\n", "z".repeat((i + round) % 50));
                            w.write(msg.as_bytes());
                            let back = r.readline().await?;
                            assert_eq!(back, msg.as_bytes(), "client {i} round {round}");
                        }
                        w.close();
                        w.wait_closed().await?;
                        std::io::Result::Ok(ROUNDS)
                    })
                })
                .collect();
            let mut done = 0;
            for c in clients {
                done += c.await.expect("client task").expect("client I/O");
            }
            assert_eq!(done, CLIENTS * ROUNDS);
            let elapsed = start.elapsed();
            server.close();
            corio::wait_for(server.wait_closed(), Duration::from_secs(30))
                .await
                .expect("handlers end once clients close");
            elapsed
        })
    });
    eprintln!(
        "{CLIENTS} clients x {ROUNDS} round trips without drain in {elapsed:?} ({:.0} round trips/s)",
        (CLIENTS * ROUNDS) as f64 / elapsed.as_secs_f64()
    );
}
