//! Shared helpers for corio's criterion benches (see `benches/`).

/// The hyper hello-world servers of `ci/bench-http.sh` (benches/http/*.rs).
pub mod http {
    /// The response body, the same for every runtime.
    pub const BODY: &[u8] = b"Hello, World!";

    /// `127.0.0.1:PORT` with PORT from the first argument (default 3000):
    /// loopback only.
    pub fn addr() -> String {
        let port = std::env::args().nth(1).unwrap_or_else(|| "3000".to_owned());
        format!("127.0.0.1:{port}")
    }
}
