//! corio::streams::StreamReader / StreamWriter over in-memory and Unix-pair streams.

mod sync_support;

use std::time::Duration;

use corio::net::UnixStream;
use corio::streams::{StreamReader, StreamWriter};
use futures::io::Cursor;
use sync_support::run_timeout;

fn reader(data: &[u8]) -> StreamReader {
    StreamReader::new(Cursor::new(data.to_vec()))
}

#[test]
fn readline_readuntil_read_and_eof() {
    run_timeout(async {
        let mut r = reader(b"one\ntwo\r\nthree");
        assert_eq!(r.readline().await.unwrap(), b"one\n");
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), b"two\r\n");
        assert!(!r.at_eof());
        assert_eq!(r.read(2).await.unwrap(), b"th");
        // Last line without a newline: returned as is, then EOF gives empty lines.
        assert_eq!(r.readline().await.unwrap(), b"ree");
        assert!(r.at_eof());
        assert_eq!(r.readline().await.unwrap(), b"");
        assert_eq!(r.read(10).await.unwrap(), b"");
    });
}

#[test]
fn readexactly_reports_partial_bytes() {
    run_timeout(async {
        let mut r = reader(b"abcdefg");
        assert_eq!(r.readexactly(3).await.unwrap(), b"abc");
        let read_err = r.readexactly(10).await.unwrap_err();
        let e = read_err
            .incomplete_read()
            .unwrap_or_else(|| panic!("expected IncompleteRead, got {read_err:?}"));
        assert_eq!(e.partial(), b"defg");
        assert_eq!(e.expected(), Some(10));
        assert!(e.to_string().contains("4 of 10"), "{e}");
        // And the io::Error conversion keeps the kind.
        let mut r = reader(b"x");
        let e: std::io::Error = r.readexactly(2).await.unwrap_err().into();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    });
}

#[test]
fn readuntil_limit_overrun_and_readline_recovery() {
    run_timeout(async {
        // Separator beyond the limit of 8 bytes.
        let mut r = StreamReader::with_limit(Cursor::new(b"0123456789ab\nnext\n".to_vec()), 8);
        let read_err = r.readuntil(b"\n").await.unwrap_err();
        let e = read_err
            .limit_overrun()
            .unwrap_or_else(|| panic!("expected LimitOverrun, got {read_err:?}"));
        assert!(e.to_string().contains("limit of 8"), "{e}");
        // readuntil leaves the data; readline discards the long line and moves on.
        assert!(r.readline().await.unwrap_err().is_limit_overrun());
        assert_eq!(r.readline().await.unwrap(), b"next\n");

        // No separator at all within the limit.
        let mut r = StreamReader::with_limit(Cursor::new(vec![b'x'; 100]), 16);
        assert!(r.readuntil(b"\n").await.unwrap_err().is_limit_overrun());
        // Separator not found before EOF: IncompleteRead with everything.
        let mut r = reader(b"no newline");
        let read_err = r.readuntil(b"\n").await.unwrap_err();
        let e = read_err
            .incomplete_read()
            .unwrap_or_else(|| panic!("expected IncompleteRead, got {read_err:?}"));
        assert_eq!(e.partial(), b"no newline");
    });
}

#[test]
fn default_limit_is_64k() {
    run_timeout(async {
        let mut big = vec![b'a'; 70 * 1024];
        big.push(b'\n');
        let mut r = reader(&big);
        assert_eq!(r.limit(), 64 * 1024);
        assert!(r.readline().await.unwrap_err().is_limit_overrun());
    });
}

#[test]
fn cancelled_readexactly_keeps_what_it_read() {
    run_timeout(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut r = StreamReader::new(a);
        let mut w = StreamWriter::new(b);
        w.write(b"hel");
        w.drain().await.unwrap();
        // Times out waiting for 5 bytes: the future is dropped after reading 3.
        let t = corio::wait_for(r.readexactly(5), Duration::from_millis(50)).await;
        assert!(t.is_err());
        w.write(b"lo");
        w.drain().await.unwrap();
        assert_eq!(r.readexactly(5).await.unwrap(), b"hello");
    });
}

#[test]
fn writer_close_sends_eof() {
    run_timeout(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut r = StreamReader::new(a);
        let mut w = StreamWriter::new(b);
        w.writelines([&b"a"[..], b"b", b"c"]);
        // Sent at once: the socket takes it, nothing stays buffered.
        assert_eq!(w.get_write_buffer_size(), 0);
        w.close();
        assert!(w.is_closing());
        w.write(b"ignored after close");
        w.wait_closed().await.unwrap();
        assert_eq!(r.read_to_end().await.unwrap(), b"abc");
        assert!(r.at_eof());
        assert!(w.drain().await.is_err(), "drain after close must fail");
    });
}
