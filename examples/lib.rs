//! Shared helpers for corio's examples (each example is a file next to this one).
