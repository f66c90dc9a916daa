//! corio's runnable examples. Each example is one self-contained file next to
//! this one (`cargo run --release --example hello`); `tour.rs` prints and runs
//! the asyncio "Coroutines and Tasks" ports in order, and `tests/seed.rs` runs
//! each of them and checks what it prints. This library is empty: Cargo wants
//! one target besides the examples.
