//! Errors of [`StreamReader`](super::StreamReader)'s reading methods.

use std::fmt;
use std::io;

/// End of stream came before the expected bytes (asyncio's
/// `IncompleteReadError`); carries the bytes that did arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteReadError {
    partial: Vec<u8>,
    expected: Option<usize>,
}

impl IncompleteReadError {
    pub(crate) fn new(partial: Vec<u8>, expected: Option<usize>) -> Self {
        IncompleteReadError { partial, expected }
    }
    /// The bytes read before end of stream.
    pub fn partial(&self) -> &[u8] {
        &self.partial
    }
    /// The bytes read before end of stream, owned.
    pub fn into_partial(self) -> Vec<u8> {
        self.partial
    }
    /// How many bytes were wanted (`None` for `readuntil`: "up to a separator").
    pub fn expected(&self) -> Option<usize> {
        self.expected
    }
}

impl fmt::Display for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected {
            Some(n) => write!(
                f,
                "incomplete read: {} of {n} expected bytes",
                self.partial.len()
            ),
            None => write!(
                f,
                "incomplete read: stream ended before the separator, after {} bytes",
                self.partial.len()
            ),
        }
    }
}

impl std::error::Error for IncompleteReadError {}

/// `readuntil`/`readline` reached the reader's limit without a separator
/// (asyncio's `LimitOverrunError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOverrunError {
    consumed: usize,
    limit: usize,
    separator_found: bool,
}

impl LimitOverrunError {
    pub(crate) fn new(consumed: usize, limit: usize, separator_found: bool) -> Self {
        LimitOverrunError {
            consumed,
            limit,
            separator_found,
        }
    }
    /// Bytes to consume before the separator could be (asyncio's `consumed`).
    pub fn consumed(&self) -> usize {
        self.consumed
    }
    /// The reader's limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl fmt::Display for LimitOverrunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.separator_found {
            write!(
                f,
                "separator found after {} bytes, beyond the limit of {}",
                self.consumed, self.limit
            )
        } else {
            write!(
                f,
                "separator not found within the limit of {} bytes",
                self.limit
            )
        }
    }
}

impl std::error::Error for LimitOverrunError {}

/// Why a `readexactly`/`readuntil`/`readline` call failed: the OS reported an
/// error ([`io_error`](Self::io_error)), the stream ended before the expected
/// bytes ([`incomplete_read`](Self::incomplete_read), asyncio's
/// `IncompleteReadError`), or the line or chunk would exceed the reader's limit
/// ([`limit_overrun`](Self::limit_overrun), asyncio's `LimitOverrunError`). The
/// [`source`](std::error::Error::source) is that inner error.
///
/// ```
/// use corio::streams::StreamReader;
/// corio_reactor::block_on(async {
///     let mut r = StreamReader::default();
///     r.feed_data(b"abc");
///     r.feed_eof();
///     let err = r.readexactly(5).await.unwrap_err();
///     assert!(err.is_incomplete_read());
///     assert_eq!(err.partial(), Some(&b"abc"[..]));
///     assert_eq!(err.incomplete_read().unwrap().expected(), Some(5));
/// });
/// ```
#[derive(Debug)]
pub struct ReadError {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Io(io::Error),
    IncompleteRead(IncompleteReadError),
    LimitOverrun(LimitOverrunError),
}

impl ReadError {
    /// True when the stream ended before the expected bytes.
    pub fn is_incomplete_read(&self) -> bool {
        matches!(self.kind, Kind::IncompleteRead(_))
    }

    /// True when the line or chunk would exceed the reader's limit.
    pub fn is_limit_overrun(&self) -> bool {
        matches!(self.kind, Kind::LimitOverrun(_))
    }

    /// The OS error (or the `InvalidInput`/`InvalidData` error of a bad
    /// argument or a stored exception), when that is what failed.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            Kind::Io(e) => Some(e),
            _ => None,
        }
    }

    /// The end-of-stream error, with the bytes that did arrive.
    pub fn incomplete_read(&self) -> Option<&IncompleteReadError> {
        match &self.kind {
            Kind::IncompleteRead(e) => Some(e),
            _ => None,
        }
    }

    /// The limit error, with how much to consume before the separator.
    pub fn limit_overrun(&self) -> Option<&LimitOverrunError> {
        match &self.kind {
            Kind::LimitOverrun(e) => Some(e),
            _ => None,
        }
    }

    /// The partial bytes of an [incomplete read](Self::is_incomplete_read).
    pub fn partial(&self) -> Option<&[u8]> {
        self.incomplete_read().map(IncompleteReadError::partial)
    }

    /// The end-of-stream error by value, or `Err(self)` for any other error.
    pub(crate) fn into_incomplete_read(self) -> Result<IncompleteReadError, ReadError> {
        match self.kind {
            Kind::IncompleteRead(e) => Ok(e),
            kind => Err(ReadError { kind }),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Io(e) => write!(f, "stream read failed: {e}"),
            Kind::IncompleteRead(e) => e.fmt(f),
            Kind::LimitOverrun(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io(e) => Some(e),
            Kind::IncompleteRead(e) => Some(e),
            Kind::LimitOverrun(e) => Some(e),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError { kind: Kind::Io(e) }
    }
}

impl From<IncompleteReadError> for ReadError {
    fn from(e: IncompleteReadError) -> Self {
        ReadError {
            kind: Kind::IncompleteRead(e),
        }
    }
}

impl From<LimitOverrunError> for ReadError {
    fn from(e: LimitOverrunError) -> Self {
        ReadError {
            kind: Kind::LimitOverrun(e),
        }
    }
}

/// So `?` works in functions returning `io::Result`: an incomplete read becomes
/// `UnexpectedEof`, a limit overrun `InvalidData` (the message is kept).
impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        match e.kind {
            Kind::Io(e) => e,
            Kind::IncompleteRead(e) => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            Kind::LimitOverrun(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
