//! The shared "protocol" side of a [`StreamReader`](super::StreamReader):
//! what others push into the reader (asyncio's `feed_data`, `feed_eof`,
//! `set_exception`), and the waker of a read waiting for it.
//!
//! In asyncio the transport pushes into the reader; here the reader pulls from
//! its socket itself, and a `Link` carries only what comes from elsewhere: the
//! connection's own writer (`close` feeds end of stream, a write error feeds
//! the exception), a [`StreamFeeder`](super::StreamFeeder), or the reader's
//! own `feed_*` calls. A flag word lets the read path check for news without
//! taking the lock.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use crate::sync::waitlist::lock;

/// Fed bytes wait in `LinkState::data`.
const DATA: u8 = 0b001;
/// End of stream was fed.
const EOF: u8 = 0b010;
/// An exception was set.
const ERROR: u8 = 0b100;

#[derive(Default)]
pub(crate) struct Link {
    flags: AtomicU8,
    state: Mutex<LinkState>,
}

#[derive(Default)]
struct LinkState {
    data: Vec<u8>,
    eof: bool,
    error: Option<Arc<io::Error>>,
    waker: Option<Waker>,
}

impl Link {
    pub(crate) fn new() -> Arc<Link> {
        Arc::new(Link::default())
    }

    /// Appends bytes for the reader.
    ///
    /// # Panics
    /// After [`feed_eof`](Self::feed_eof) (asyncio asserts the same).
    pub(crate) fn feed_data(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let waker = {
            let mut st = lock(&self.state);
            assert!(
                !st.eof,
                "feed_data after feed_eof: no data may follow the end of the stream"
            );
            st.data.extend_from_slice(data);
            self.flags.fetch_or(DATA, Ordering::Release);
            st.waker.take()
        };
        wake(waker);
    }

    pub(crate) fn feed_eof(&self) {
        let waker = {
            let mut st = lock(&self.state);
            st.eof = true;
            self.flags.fetch_or(EOF, Ordering::Release);
            st.waker.take()
        };
        wake(waker);
    }

    /// Stores `e` (the first one wins, as a connection is lost only once; a
    /// later `set_exception` replaces it, as asyncio's does).
    pub(crate) fn set_exception(&self, e: Arc<io::Error>) {
        let waker = {
            let mut st = lock(&self.state);
            st.error = Some(e);
            self.flags.fetch_or(ERROR, Ordering::Release);
            st.waker.take()
        };
        wake(waker);
    }

    /// Stores `e` unless an exception is already there (connection errors:
    /// the first cause is the one to report).
    pub(crate) fn set_exception_if_none(&self, e: Arc<io::Error>) {
        if self.flags.load(Ordering::Acquire) & ERROR == 0 {
            let waker = {
                let mut st = lock(&self.state);
                if st.error.is_some() {
                    return;
                }
                st.error = Some(e);
                self.flags.fetch_or(ERROR, Ordering::Release);
                st.waker.take()
            };
            wake(waker);
        }
    }

    pub(crate) fn exception(&self) -> Option<io::Error> {
        if self.flags.load(Ordering::Acquire) & ERROR == 0 {
            return None;
        }
        lock(&self.state).error.as_ref().map(copy_error)
    }

    pub(crate) fn eof_fed(&self) -> bool {
        self.flags.load(Ordering::Acquire) & EOF != 0
    }

    pub(crate) fn has_data(&self) -> bool {
        self.flags.load(Ordering::Acquire) & DATA != 0
    }

    /// True when anything was fed (data, EOF or an exception).
    pub(crate) fn has_news(&self) -> bool {
        self.flags.load(Ordering::Acquire) != 0
    }

    /// Takes the fed bytes.
    pub(crate) fn take_data(&self) -> Vec<u8> {
        if !self.has_data() {
            return Vec::new();
        }
        let mut st = lock(&self.state);
        self.flags.fetch_and(!DATA, Ordering::AcqRel);
        std::mem::take(&mut st.data)
    }

    /// Remembers the waker of a read that waits; it is woken by the next feed.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut st = lock(&self.state);
        match &st.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => st.waker = Some(waker.clone()),
        }
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// A fresh `io::Error` with the kind and message of a stored one (an
/// `io::Error` cannot be cloned; asyncio raises the same object again).
pub(crate) fn copy_error(e: &Arc<io::Error>) -> io::Error {
    io::Error::new(e.kind(), Shared(e.clone()))
}

/// The stored error, shown as itself, with the original as its source.
struct Shared(Arc<io::Error>);

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
