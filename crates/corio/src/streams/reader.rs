//! [`StreamReader`]: asyncio's `StreamReader` over any `AsyncRead`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use futures_io::AsyncRead;

use super::error::{IncompleteReadError, LimitOverrunError, ReadError};

/// asyncio's default buffer limit for `readuntil`/`readline` (`2 ** 16`).
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// Bytes asked of the OS per read: big enough that a bulk transfer takes few
/// syscalls, small enough that an idle connection's buffer stays small.
const READ_CHUNK: usize = 16 * 1024;

/// The read half of a connection (or any `AsyncRead`), with a buffer and
/// asyncio's reading methods.
///
/// Every method is cancellation-safe: bytes are only taken out of the buffer
/// when a call completes, so a `readexactly` dropped half-way (a timeout) leaves
/// what it had read for the next call.
///
/// ```
/// use corio::streams::StreamReader;
/// corio_reactor::block_on(async {
///     let data: &[u8] = b"HELLO\nworld";
///     let mut r = StreamReader::new(futures::io::Cursor::new(data.to_vec()));
///     assert_eq!(r.readline().await?, b"HELLO\n");
///     assert_eq!(r.readexactly(3).await?, b"wor");
///     let err = r.readexactly(5).await.unwrap_err(); // only "ld" left
///     assert_eq!(err.partial(), Some(&b"ld"[..]));
///     assert!(r.at_eof());
///     Ok::<_, corio::streams::ReadError>(())
/// }).unwrap();
/// ```
pub struct StreamReader {
    inner: Box<dyn AsyncRead + Send + Unpin>,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
    eof: bool,
    limit: usize,
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &self.buffered())
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl StreamReader {
    /// Wraps `inner` with the default limit ([`DEFAULT_LIMIT`], 64 KiB).
    pub fn new(inner: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self::with_limit(inner, DEFAULT_LIMIT)
    }

    /// Wraps `inner`; `readuntil`/`readline` fail with [`LimitOverrunError`]
    /// when a line would be longer than `limit` bytes.
    pub fn with_limit(inner: impl AsyncRead + Send + Unpin + 'static, limit: usize) -> Self {
        StreamReader {
            inner: Box::new(inner),
            buf: Vec::new(),
            pos: 0,
            eof: false,
            limit: limit.max(1),
        }
    }

    /// The limit of `readuntil`/`readline`.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes read from the OS but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when the peer closed its side and the buffer is empty.
    pub fn at_eof(&self) -> bool {
        self.eof && self.buffered() == 0
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        out
    }

    /// One read from the OS into the buffer; returns bytes read (0 = EOF).
    async fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        // Compact: move unread bytes to the front once the consumed prefix is big.
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let n = poll_fn(|cx| {
            // Grow, read, shrink back within one poll so a cancelled read never
            // leaves zeroed bytes in the buffer.
            let old = self.buf.len();
            self.buf.resize(old + READ_CHUNK, 0);
            let r = Pin::new(&mut self.inner).poll_read(cx, &mut self.buf[old..]);
            let got = match &r {
                Poll::Ready(Ok(n)) => *n,
                _ => 0,
            };
            self.buf.truncate(old + got);
            r
        })
        .await?;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    /// Up to `n` bytes: what is buffered, or else one read's worth. An empty
    /// vector means end of stream (or `n == 0`).
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.buffered() == 0 {
            self.fill().await?;
        }
        let k = n.min(self.buffered());
        Ok(self.take(k))
    }

    /// Everything until end of stream (asyncio's `read(-1)`).
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? > 0 {}
        let k = self.buffered();
        Ok(self.take(k))
    }

    /// Exactly `n` bytes, or [`ReadError::IncompleteRead`] with the bytes that
    /// came before end of stream (they are consumed).
    pub async fn readexactly(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.buffered() < n {
            if self.fill().await? == 0 {
                let k = self.buffered();
                let partial = self.take(k);
                return Err(ReadError::IncompleteRead(IncompleteReadError::new(
                    partial,
                    Some(n),
                )));
            }
        }
        Ok(self.take(n))
    }

    /// Bytes up to and including `sep`.
    ///
    /// Fails with [`ReadError::LimitOverrun`] when `limit` bytes arrive without
    /// the separator, or the separator comes after the limit (the data stays in
    /// the buffer, as asyncio); with [`ReadError::IncompleteRead`] (carrying all
    /// remaining bytes, consumed) at end of stream.
    ///
    /// # Panics
    /// If `sep` is empty (asyncio raises `ValueError`).
    pub async fn readuntil(&mut self, sep: &[u8]) -> Result<Vec<u8>, ReadError> {
        assert!(
            !sep.is_empty(),
            "readuntil: the separator must not be empty"
        );
        let mut offset = 0;
        loop {
            let data = self.data();
            if let Some(i) = find(&data[offset..], sep) {
                let isep = offset + i;
                if isep > self.limit {
                    return Err(ReadError::LimitOverrun(LimitOverrunError::new(
                        isep, self.limit, true,
                    )));
                }
                return Ok(self.take(isep + sep.len()));
            }
            // Next search starts where a separator could begin in new data.
            offset = (data.len() + 1).saturating_sub(sep.len());
            if offset > self.limit {
                return Err(ReadError::LimitOverrun(LimitOverrunError::new(
                    offset, self.limit, false,
                )));
            }
            if self.fill().await? == 0 {
                let k = self.buffered();
                let partial = self.take(k);
                return Err(ReadError::IncompleteRead(IncompleteReadError::new(
                    partial, None,
                )));
            }
        }
    }

    /// One line including its `\n`; at end of stream, the last unterminated
    /// bytes (empty at EOF). A line longer than the limit fails with
    /// [`ReadError::LimitOverrun`] and is discarded (asyncio's `ValueError`),
    /// so the next call starts at the next line.
    pub async fn readline(&mut self) -> Result<Vec<u8>, ReadError> {
        match self.readuntil(b"\n").await {
            Ok(line) => Ok(line),
            Err(ReadError::IncompleteRead(e)) => Ok(e.into_partial()),
            Err(ReadError::LimitOverrun(e)) => {
                let consumed = e.consumed();
                if self.data().get(consumed) == Some(&b'\n') {
                    self.take(consumed + 1);
                } else {
                    let k = self.buffered();
                    self.take(k);
                }
                Err(ReadError::LimitOverrun(e))
            }
            Err(e) => Err(e),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
