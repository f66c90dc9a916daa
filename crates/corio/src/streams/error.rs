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

/// Why a `readexactly`/`readuntil`/`readline` call failed.
#[derive(Debug)]
pub enum ReadError {
    /// The OS reported an error.
    Io(io::Error),
    /// End of stream before the expected bytes.
    IncompleteRead(IncompleteReadError),
    /// The line/chunk would exceed the reader's limit.
    LimitOverrun(LimitOverrunError),
}

impl ReadError {
    /// The partial bytes of an [`IncompleteRead`](ReadError::IncompleteRead).
    pub fn partial(&self) -> Option<&[u8]> {
        match self {
            ReadError::IncompleteRead(e) => Some(e.partial()),
            _ => None,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "stream read failed: {e}"),
            ReadError::IncompleteRead(e) => e.fmt(f),
            ReadError::LimitOverrun(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::IncompleteRead(e) => Some(e),
            ReadError::LimitOverrun(e) => Some(e),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// So `?` works in functions returning `io::Result`: an incomplete read becomes
/// `UnexpectedEof`, a limit overrun `InvalidData` (the message is kept).
impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => e,
            ReadError::IncompleteRead(e) => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            ReadError::LimitOverrun(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
