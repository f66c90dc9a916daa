//! corio-blocking: blocking pool, ThreadPool and ProcessPool (being built in issue 5).
