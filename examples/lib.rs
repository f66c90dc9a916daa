//! Shared helpers for corio's examples (each example is a file next to this one).
//!
//! `seed` holds the snippets of asyncio's "Coroutines and Tasks" page as
//! functions, so the example binaries and the tests share them.

pub mod seed;
