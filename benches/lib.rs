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

/// The park hook the facade installs on corio-scheduler: idle workers wait in
/// corio-reactor (`park = try_drive`, `unpark = notify`, `poll_ready =
/// try_drive(0)`). Benches that run the scheduler alone with timers or sockets use it,
/// with one [`register_driver`](corio_reactor::Reactor::register_driver) guard.
#[derive(Debug)]
pub struct ReactorPark;

impl corio_scheduler::Park for ReactorPark {
    fn park(&self, timeout: Option<std::time::Duration>) -> bool {
        corio_reactor::Reactor::get().try_drive(timeout).is_some()
    }
    fn unpark(&self) {
        corio_reactor::Reactor::get().notify();
    }
    fn poll_ready(&self) {
        let _ = corio_reactor::Reactor::get().try_drive(Some(std::time::Duration::ZERO));
    }
}
