//! corio-reactor: readiness I/O and timers (being built in issue 4).
