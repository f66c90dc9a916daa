//! Ports of CPython's Lib/test/test_asyncio/test_streams.py (StreamTests),
//! names kept. asyncio's `StreamReader()` fed by hand is
//! `StreamReader::detached(limit)`; `loop.call_soon(cb)` feeding a waiting
//! read is a task with a `StreamFeeder`. `ValueError` from readline is
//! a `ReadError` that `is_limit_overrun()`; the buffer is observed by reading it.

mod sync_support;

use std::io::ErrorKind;
use std::time::Duration;

use corio::streams::{StreamReader, StreamWriter, DEFAULT_LIMIT};
use sync_support::run_timeout;

const DATA: &[u8] = b"line1\nline2\nline3\n";
const STEP: Duration = Duration::from_secs(10);

fn fed(limit: usize, chunks: &[&[u8]]) -> StreamReader {
    let r = StreamReader::detached(limit);
    for c in chunks {
        r.feed_data(c);
    }
    r
}

/// What is left in the buffer (feeds EOF, then reads everything).
async fn rest(r: &mut StreamReader) -> Vec<u8> {
    r.feed_eof();
    r.read_to_end().await.unwrap()
}

/// Runs `read` on a task while `feed` runs after it (asyncio's call_soon).
async fn read_while_feeding<T: Send + 'static>(
    r: StreamReader,
    read: impl FnOnce(StreamReader) -> corio::Task<(T, StreamReader)>,
    feed: impl FnOnce(&corio::streams::StreamFeeder),
) -> (T, StreamReader) {
    let feeder = r.feeder();
    let task = read(r);
    corio::yield_now().await;
    feed(&feeder);
    corio::wait_for(task, STEP).await.unwrap().unwrap()
}

#[test]
fn test_feed_empty_data() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[b""]);
        assert_eq!(rest(&mut r).await, b"");
    });
}

#[test]
fn test_feed_nonempty_data() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[DATA]);
        assert_eq!(rest(&mut r).await, DATA);
    });
}

#[test]
fn test_read_zero() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[DATA]);
        assert_eq!(r.read(0).await.unwrap(), b"");
        assert_eq!(rest(&mut r).await, DATA);
    });
}

#[test]
fn test_read() {
    run_timeout(async {
        let (data, mut r) = read_while_feeding(
            StreamReader::default(),
            |mut r| corio::create_task(async move { (r.read(30).await.unwrap(), r) }),
            |f| f.feed_data(DATA),
        )
        .await;
        assert_eq!(data, DATA);
        assert_eq!(rest(&mut r).await, b"");
    });
}

#[test]
fn test_read_line_breaks() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[b"line1", b"line2"]);
        assert_eq!(r.read(5).await.unwrap(), b"line1");
        assert_eq!(rest(&mut r).await, b"line2");
    });
}

#[test]
fn test_read_eof() {
    run_timeout(async {
        let (data, _) = read_while_feeding(
            StreamReader::default(),
            |mut r| corio::create_task(async move { (r.read(1024).await.unwrap(), r) }),
            |f| f.feed_eof(),
        )
        .await;
        assert_eq!(data, b"");
    });
}

#[test]
fn test_read_until_eof() {
    run_timeout(async {
        let (data, _) = read_while_feeding(
            StreamReader::default(),
            |mut r| corio::create_task(async move { (r.read_to_end().await.unwrap(), r) }),
            |f| {
                f.feed_data(b"chunk1\n");
                f.feed_data(b"chunk2");
                f.feed_eof();
            },
        )
        .await;
        assert_eq!(data, b"chunk1\nchunk2");
    });
}

#[test]
fn test_read_exception() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[b"line\n"]);
        assert_eq!(r.read(2).await.unwrap(), b"li");
        r.set_exception(std::io::Error::new(ErrorKind::InvalidData, "ValueError"));
        assert_eq!(r.read(2).await.unwrap_err().kind(), ErrorKind::InvalidData);
    });
}

#[test]
fn test_read_limit() {
    run_timeout(async {
        let mut r = fed(3, &[b"chunk"]);
        assert_eq!(r.read(5).await.unwrap(), b"chunk");
    });
}

#[test]
fn test_readline() {
    run_timeout(async {
        let r = fed(DEFAULT_LIMIT, &[b"chunk1 "]);
        let (line, mut r) = read_while_feeding(
            r,
            |mut r| corio::create_task(async move { (r.readline().await.unwrap(), r) }),
            |f| {
                f.feed_data(b"chunk2 ");
                f.feed_data(b"chunk3 ");
                f.feed_data(b"\n chunk4");
            },
        )
        .await;
        assert_eq!(line, b"chunk1 chunk2 chunk3 \n");
        assert_eq!(rest(&mut r).await, b" chunk4");
    });
}

#[test]
fn test_readline_limit_with_existing_data() {
    run_timeout(async {
        let mut r = fed(3, &[b"li", b"ne1\nline2\n"]);
        assert!(r.readline().await.unwrap_err().is_limit_overrun());
        // The long line is gone, the next one is whole.
        assert_eq!(rest(&mut r).await, b"line2\n");

        let mut r = fed(3, &[b"li", b"ne1", b"li"]);
        assert!(r.readline().await.unwrap_err().is_limit_overrun());
        // No separator at all: the whole buffer is dropped.
        assert_eq!(rest(&mut r).await, b"");
    });
}

#[test]
fn test_at_eof() {
    run_timeout(async {
        let mut r = StreamReader::default();
        assert!(!r.at_eof());
        r.feed_data(b"some data\n");
        assert!(!r.at_eof());
        r.readline().await.unwrap();
        assert!(!r.at_eof());
        r.feed_data(b"some data\n");
        r.feed_eof();
        r.readline().await.unwrap();
        assert!(r.at_eof());
    });
}

#[test]
fn test_readline_limit() {
    run_timeout(async {
        // The buffer had one line of data: after the error it is empty.
        let mut r = fed(7, &[b"chunk1", b"chunk2", b"chunk3\n"]);
        assert!(r.readline().await.unwrap_err().is_limit_overrun());
        assert_eq!(rest(&mut r).await, b"");

        let mut r = fed(7, &[b"chunk1", b"chunk2\n", b"chunk3\n"]);
        assert!(r.readline().await.unwrap_err().is_limit_overrun());
        assert_eq!(rest(&mut r).await, b"chunk3\n");

        // The limit is strict: 7 bytes before the separator fit, 8 do not.
        let mut r = fed(7, &[b"1234567\n"]);
        assert_eq!(r.readline().await.unwrap(), b"1234567\n");
        r.feed_data(b"12345678\n");
        assert!(r.readline().await.unwrap_err().is_limit_overrun());
        r.feed_data(b"12345678");
        assert!(r.readline().await.unwrap_err().is_limit_overrun());
        assert_eq!(rest(&mut r).await, b"");
    });
}

#[test]
fn test_readline_nolimit_nowait() {
    run_timeout(async {
        // All data is there already: no wait.
        let mut r = fed(DEFAULT_LIMIT, &[&DATA[..6], &DATA[6..]]);
        assert_eq!(r.readline().await.unwrap(), b"line1\n");
        assert_eq!(rest(&mut r).await, b"line2\nline3\n");
    });
}

#[test]
fn test_readline_eof() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[b"some data"]);
        r.feed_eof();
        assert_eq!(r.readline().await.unwrap(), b"some data");
    });
}

#[test]
fn test_readline_empty_eof() {
    run_timeout(async {
        let mut r = StreamReader::default();
        r.feed_eof();
        assert_eq!(r.readline().await.unwrap(), b"");
    });
}

#[test]
fn test_readline_read_byte_count() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[DATA]);
        r.readline().await.unwrap();
        assert_eq!(r.read(7).await.unwrap(), b"line2\nl");
        assert_eq!(rest(&mut r).await, b"ine3\n");
    });
}

#[test]
fn test_readline_exception() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[b"line\n"]);
        assert_eq!(r.readline().await.unwrap(), b"line\n");
        r.set_exception(std::io::Error::new(ErrorKind::InvalidData, "ValueError"));
        assert!(
            r.readline().await.unwrap_err().io_error().map(|e| e.kind())
                == Some(ErrorKind::InvalidData)
        );
    });
}

#[test]
fn test_readuntil_separator() {
    run_timeout(async {
        let mut r = StreamReader::default();
        let e = r.readuntil(b"").await.unwrap_err();
        assert_eq!(
            e.io_error().map(|e| e.kind()),
            Some(ErrorKind::InvalidInput)
        );
        let none: [&[u8]; 0] = [];
        assert!(r.readuntil(&none).await.is_err());
        let with_empty: [&[u8]; 2] = [b"\n", b""];
        assert!(r.readuntil(&with_empty).await.is_err());
    });
}

#[test]
fn test_readuntil_multi_chunks() {
    run_timeout(async {
        let mut r = StreamReader::default();
        r.feed_data(b"lineAAA");
        assert_eq!(r.readuntil(b"AAA").await.unwrap(), b"lineAAA");
        r.feed_data(b"lineAAA");
        assert_eq!(r.readuntil(b"AAA").await.unwrap(), b"lineAAA");
        r.feed_data(b"lineAAAxxx");
        assert_eq!(r.readuntil(b"AAA").await.unwrap(), b"lineAAA");
        assert_eq!(rest(&mut r).await, b"xxx");
    });
}

#[test]
fn test_readuntil_multi_chunks_1() {
    run_timeout(async {
        let mut r = StreamReader::default();
        for (chunks, want) in [
            (&[&b"QWEaa"[..], b"XYaa", b"a"][..], &b"QWEaaXYaaa"[..]),
            (&[b"QWEaa", b"XYa", b"aa"], b"QWEaaXYaaa"),
            (&[b"aaa"], b"aaa"),
            (&[b"Xaaa"], b"Xaaa"),
            (&[b"XXX", b"a", b"a", b"a"], b"XXXaaa"),
        ] {
            let feeder = r.feeder();
            let want = want.to_vec();
            let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
            let task = corio::create_task(async move {
                let got = r.readuntil(b"aaa").await.unwrap();
                (got, r)
            });
            for c in chunks {
                feeder.feed_data(&c);
                corio::yield_now().await;
            }
            let (got, back) = corio::wait_for(task, STEP).await.unwrap().unwrap();
            assert_eq!(got, want);
            r = back;
        }
        assert_eq!(rest(&mut r).await, b"");
    });
}

#[test]
fn test_readuntil_eof() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[b"some dataAA"]);
        r.feed_eof();
        let read_err = r.readuntil(b"AAA").await.unwrap_err();
        let e = read_err
            .incomplete_read()
            .unwrap_or_else(|| panic!("expected IncompleteRead, got {read_err:?}"));
        assert_eq!(e.partial(), b"some dataAA");
        assert_eq!(e.expected(), None);
        assert_eq!(r.read_to_end().await.unwrap(), b"");
    });
}

#[test]
fn test_readuntil_limit_found_sep() {
    run_timeout(async {
        let mut r = fed(3, &[b"some dataAA"]);
        let read_err = r.readuntil(b"AAA").await.unwrap_err();
        let e = read_err
            .limit_overrun()
            .unwrap_or_else(|| panic!("expected LimitOverrun, got {read_err:?}"));
        assert!(e.to_string().contains("not found"), "{e}");
        // The data stays; the separator fed after the overrun is seen.
        r.feed_data(b"A");
        let read_err = r.readuntil(b"AAA").await.unwrap_err();
        let e = read_err
            .limit_overrun()
            .unwrap_or_else(|| panic!("expected LimitOverrun, got {read_err:?}"));
        assert!(e.to_string().contains("found after"), "{e}");
        assert_eq!(e.consumed(), 9);
        assert_eq!(rest(&mut r).await, b"some dataAAA");
    });
}

/// Python 3.13: readuntil with a tuple of separators.
#[test]
fn test_readuntil_multiple_separators() {
    run_timeout(async {
        let seps: [&[u8]; 2] = [b"\r\n", b"\n"];
        let mut r = fed(DEFAULT_LIMIT, &[b"line 1\nline 2\r"]);
        assert_eq!(r.readuntil(&seps).await.unwrap(), b"line 1\n");
        // "line 2\r" waits for its "\n".
        let feeder = r.feeder();
        let task = corio::create_task(async move { (r.readuntil(&seps).await.unwrap(), r) });
        corio::yield_now().await;
        feeder.feed_data(b"\nline 3 AAA|BB|CCCC");
        let (line, mut r) = corio::wait_for(task, STEP).await.unwrap().unwrap();
        assert_eq!(line, b"line 2\r\n");
        // The match that ends first wins, whatever the order given.
        let abc: Vec<&[u8]> = vec![b"CCCC", b"BB", b"AAA"];
        assert_eq!(r.readuntil(&abc).await.unwrap(), b"line 3 AAA");
        assert_eq!(r.readuntil(&abc).await.unwrap(), b"|BB");
        assert_eq!(r.readuntil(&abc).await.unwrap(), b"|CCCC");
    });
}

#[test]
fn test_readexactly_zero_or_less() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[DATA]);
        assert_eq!(r.readexactly(0).await.unwrap(), b"");
        assert_eq!(rest(&mut r).await, DATA);
    });
}

#[test]
fn test_readexactly() {
    run_timeout(async {
        let n = 2 * DATA.len();
        let (data, mut r) = read_while_feeding(
            StreamReader::default(),
            move |mut r| corio::create_task(async move { (r.readexactly(n).await.unwrap(), r) }),
            |f| {
                f.feed_data(DATA);
                f.feed_data(DATA);
                f.feed_data(DATA);
            },
        )
        .await;
        assert_eq!(data, [DATA, DATA].concat());
        assert_eq!(rest(&mut r).await, DATA);
    });
}

#[test]
fn test_readexactly_limit() {
    run_timeout(async {
        let mut r = fed(3, &[b"chunk"]);
        assert_eq!(r.readexactly(5).await.unwrap(), b"chunk");
    });
}

#[test]
fn test_readexactly_eof() {
    run_timeout(async {
        let n = 2 * DATA.len();
        let (res, _) = read_while_feeding(
            StreamReader::default(),
            move |mut r| corio::create_task(async move { (r.readexactly(n).await, r) }),
            |f| {
                f.feed_data(DATA);
                f.feed_eof();
            },
        )
        .await;
        let read_err = res.unwrap_err();
        let e = read_err
            .incomplete_read()
            .unwrap_or_else(|| panic!("expected IncompleteRead, got {read_err:?}"));
        assert_eq!(e.partial(), DATA);
        assert_eq!(e.expected(), Some(n));
        assert!(e.to_string().contains("18 of 36"), "{e}");
    });
}

#[test]
fn test_readexactly_exception() {
    run_timeout(async {
        let mut r = fed(DEFAULT_LIMIT, &[b"line\n"]);
        assert_eq!(r.readexactly(2).await.unwrap(), b"li");
        r.set_exception(std::io::Error::new(ErrorKind::InvalidData, "ValueError"));
        assert!(r.readexactly(2).await.is_err());
    });
}

#[test]
fn test_exception() {
    let r = StreamReader::default();
    assert!(r.exception().is_none());
    r.set_exception(std::io::Error::new(ErrorKind::InvalidData, "ValueError"));
    let e = r.exception().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert_eq!(e.to_string(), "ValueError");
}

#[test]
fn test_exception_waiter() {
    run_timeout(async {
        let (res, _) = read_while_feeding(
            StreamReader::default(),
            |mut r| corio::create_task(async move { (r.readline().await, r) }),
            |f| f.set_exception(std::io::Error::new(ErrorKind::InvalidData, "ValueError")),
        )
        .await;
        assert_eq!(
            res.unwrap_err().io_error().map(|e| e.kind()),
            Some(ErrorKind::InvalidData)
        );
    });
}

#[test]
fn test_exception_cancel() {
    run_timeout(async {
        let r = StreamReader::default();
        let feeder = r.feeder();
        let mut r = r;
        let t = corio::create_task(async move {
            let _ = r.readline().await;
        });
        corio::yield_now().await;
        t.cancel();
        assert!(corio::wait_for(t, STEP)
            .await
            .unwrap()
            .unwrap_err()
            .is_cancelled());
        // Setting an exception on a reader whose reader task is gone is fine.
        feeder.set_exception(std::io::Error::other("after cancel"));
        feeder.feed_data(b"no one reads this");
    });
}

/// test_wait_closed_on_close, test_wait_closed_on_close_with_unread_data,
/// test_async_writer_api, test_async_writer_api_exception_after_close.
#[test]
fn test_writer_close_and_api() {
    run_timeout(async {
        let server = corio::start_server(
            |mut r: StreamReader, mut w: StreamWriter| async move {
                w.write(b"unread data that the client never reads\n");
                while let Ok(line) = r.readline().await {
                    if line.is_empty() {
                        break;
                    }
                    w.write(&line);
                    let _ = w.drain().await;
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        // Close with unread data.
        let (_r, mut w) = corio::open_connection(addr).await.unwrap();
        assert!(!w.is_closing());
        w.close();
        assert!(w.is_closing());
        corio::wait_for(w.wait_closed(), STEP)
            .await
            .unwrap()
            .unwrap();
        // The writer API.
        let (mut r, mut w) = corio::open_connection(addr).await.unwrap();
        r.readline().await.unwrap();
        w.write(b"GET / HTTP/1.0\r\n\r\n");
        w.drain().await.unwrap();
        assert_eq!(r.readline().await.unwrap(), b"GET / HTTP/1.0\r\n");
        w.close();
        corio::wait_for(w.wait_closed(), STEP)
            .await
            .unwrap()
            .unwrap();
        // Exception after close: asyncio's drain raises ConnectionResetError.
        w.write(b"data");
        assert_eq!(
            w.drain().await.unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
    });
}
