//! Shared helpers for corio's criterion benches (see `benches/`).
