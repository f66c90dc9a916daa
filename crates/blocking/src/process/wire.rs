//! The parent <-> worker protocol: length-prefixed postcard frames over the
//! worker's stdin (requests) and stdout (replies).
//!
//! ```text
//! parent -> worker, once:  SECRET_MAGIC (8 bytes)  secret (32 random bytes)
//! worker -> parent, once:  MAGIC (8 bytes)  secret (echoed)  frame(Hello)
//! parent -> worker:        frame(Request)            (one at a time)
//! worker -> parent:        frame(Response)           (exactly one per request)
//! frame(x) = u32 little-endian length of the payload, then postcard(x)
//! ```
//!
//! The worker exits when its stdin reaches end of file (the parent closed it or died).

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Written first by a worker so the parent can tell a worker from a program that
/// did not call `maybe_run_worker` (and printed something else, or nothing).
pub(crate) const MAGIC: [u8; 8] = *b"CORIOPW1";

/// Largest frame accepted (1 GiB): a length beyond this means a corrupt stream,
/// not a real argument, and must not turn into a giant allocation.
const MAX_FRAME: usize = 1 << 30;

/// The worker introduces itself: its pid and the functions it can run.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct Hello {
    pub(crate) pid: u32,
    pub(crate) functions: Vec<String>,
}

/// Run function `name` on the postcard-encoded argument `arg`.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct Request {
    pub(crate) name: String,
    pub(crate) arg: Vec<u8>,
}

/// The outcome of one request.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Response {
    /// The postcard-encoded result.
    Ok(Vec<u8>),
    /// The function panicked with this message; the worker lives on.
    Panicked(String),
    /// No function registered under the requested name.
    UnknownFunction(String),
    /// The argument did not decode as the function's argument type.
    BadArgument(String),
}

pub(crate) fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `payload` behind its length prefix, ready for one `write`.
pub(crate) fn frame(payload: &[u8]) -> io::Result<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {} bytes exceeds the 1 GiB limit", payload.len()),
            )
        })?;
    let mut buf = Vec::with_capacity(4 + payload.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(payload);
    Ok(buf)
}

/// The payload length a 4-byte prefix announces.
pub(crate) fn frame_len(prefix: &[u8]) -> u64 {
    let mut len = [0u8; 4];
    len.copy_from_slice(&prefix[..4]);
    u64::from(u32::from_le_bytes(len))
}

/// Writes one frame with a single `write_all` (one syscall for small frames).
pub(crate) fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    w.write_all(&frame(payload)?)?;
    w.flush()
}

/// Reads one frame; `Ok(None)` on a clean end of file before the frame starts.
/// The buffer grows as bytes arrive, so a length prefix alone allocates nothing.
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match r.read(&mut len[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = frame_len(&len);
    if len > MAX_FRAME as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len} exceeds the 1 GiB limit: corrupt stream"),
        ));
    }
    let mut payload = Vec::new();
    r.take(len).read_to_end(&mut payload)?;
    if payload.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(payload))
}
