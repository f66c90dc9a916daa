//! [`StreamConfig`]: the options of [`open_connection_with`](super::open_connection_with),
//! [`start_server_with`](super::start_server_with) and their Unix variants.

use super::reader::DEFAULT_LIMIT;
use super::writer::{StreamWriter, DEFAULT_HIGH_WATER};

/// Options for the streams of a connection: asyncio's `limit=` argument of
/// `open_connection`/`start_server`, and the writer's water marks
/// (`transport.set_write_buffer_limits`) set from the start.
///
/// ```
/// use corio::streams::StreamConfig;
/// let cfg = StreamConfig::new().limit(1 << 20).write_buffer_limits(256 * 1024, 64 * 1024);
/// assert_eq!(cfg.get_limit(), 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    pub(crate) limit: usize,
    high: usize,
    low: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            limit: DEFAULT_LIMIT,
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_HIGH_WATER / 4,
        }
    }
}

impl StreamConfig {
    /// asyncio's defaults: a 64 KiB reader limit, write buffer marks of 64 KiB
    /// (high) and 16 KiB (low).
    pub fn new() -> Self {
        Self::default()
    }

    /// The reader's limit for `readuntil`/`readline` (asyncio's `limit=`);
    /// 0 is taken as 1.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }

    /// The reader's limit.
    pub fn get_limit(&self) -> usize {
        self.limit
    }

    /// The writer's high- and low-water marks (see
    /// [`StreamWriter::set_write_buffer_limits`]); `low` is capped at `high`.
    #[must_use]
    pub fn write_buffer_limits(mut self, high: usize, low: usize) -> Self {
        self.high = high;
        self.low = low.min(high);
        self
    }

    pub(crate) fn apply_to(&self, w: &mut StreamWriter) {
        // low <= high holds by construction, so this cannot fail.
        let _ = w.set_write_buffer_limits(Some(self.high), Some(self.low));
    }
}
