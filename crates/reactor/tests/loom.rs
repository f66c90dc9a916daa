//! Loom models of the per-source readiness protocol (src/source.rs; run by
//! `ci/loom.sh`: `--cfg loom`, `LOOM_MAX_PREEMPTIONS=2`). A task polls, reads
//! and clears readiness while the driver delivers an event: in every
//! interleaving the task must end either ready or woken (no lost wake-up), and
//! a hang-up must never be forgotten by a short read.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};

use corio_reactor::loom_model::Readiness;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

const READ: usize = 0;
const WRITE: usize = 1;

/// A waker that counts its wake-ups (std atomics: loom runs its threads on one
/// OS thread, and the counts are read after `join`).
struct Count(StdAtomicUsize);
impl Wake for Count {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, StdOrdering::SeqCst);
    }
}
fn counting_waker() -> (StdArc<Count>, Waker) {
    let count = StdArc::new(Count(StdAtomicUsize::new(0)));
    (count.clone(), Waker::from(count))
}

/// The driver's side: deliver, then wake what it took (outside the lock).
fn deliver_and_wake(r: &Readiness, readable: bool, writable: bool, closed: bool) {
    for w in r.deliver(readable, writable, closed) {
        w.wake();
    }
}

/// The waker was woken at least once (a task that returned `Pending` is
/// polled again only then).
fn woken(count: &Count) -> bool {
    count.0.load(StdOrdering::SeqCst) > 0
}

/// The kernel's side of a socket: bytes queued and whether the peer hung up.
/// The driver thread adds to it *before* delivering the event, as the kernel
/// queues data before epoll reports it.
#[derive(Default)]
struct Socket {
    queued: AtomicUsize,
    hung_up: AtomicBool,
}

/// What one read on the modelled socket returned.
enum Read {
    Data,
    Eof,
    WouldBlock,
}

impl Socket {
    fn read(&self) -> Read {
        if self.queued.swap(0, Ordering::SeqCst) > 0 {
            Read::Data
        } else if self.hung_up.load(Ordering::SeqCst) {
            Read::Eof
        } else {
            Read::WouldBlock
        }
    }
}

/// A fresh source and socket, and a driver thread on which the kernel queues
/// one byte (then hangs up if `hang_up`) and the driver delivers the event.
fn kernel_delivers(hang_up: bool) -> (Arc<Readiness>, Arc<Socket>, thread::JoinHandle<()>) {
    let r = Arc::new(Readiness::new());
    let sock = Arc::new(Socket::default());
    let driver = {
        let (r, sock) = (r.clone(), sock.clone());
        thread::spawn(move || {
            sock.queued.fetch_add(1, Ordering::SeqCst);
            sock.hung_up.store(hang_up, Ordering::SeqCst);
            deliver_and_wake(&r, true, false, hang_up);
        })
    };
    (r, sock, driver)
}

/// A read gets `WouldBlock` (clears with the tick it saw) and waits, while
/// the driver delivers new data: the task reads the data, or is woken, or
/// sees the new readiness.
#[test]
fn would_block_clear_races_an_event() {
    loom::model(|| {
        let (r, sock, driver) = kernel_delivers(false);
        let (count, waker) = counting_waker();
        let tick = r.poll_ready(READ, &waker).expect("a fresh source is ready");
        let got = match sock.read() {
            Read::Data => true,
            Read::Eof => unreachable!("no hang-up in this model"),
            Read::WouldBlock => {
                r.clear_ready(READ, tick);
                false
            }
        };
        let ready_now = r.poll_ready(READ, &waker).is_some();
        driver.join().unwrap();
        assert!(got || ready_now || woken(&count));
    });
}

/// Short reads clear read readiness while data and then a hang-up arrive:
/// whatever the order, the task sees end of stream or ends ready or woken,
/// and once the hang-up is delivered no short read clears readiness again.
#[test]
fn short_read_clear_races_data_then_hang_up() {
    loom::model(|| {
        // Data and FIN in one event, as epoll merges them.
        let (r, sock, driver) = kernel_delivers(true);
        let (count, waker) = counting_waker();
        let (mut eof, mut pending) = (false, false);
        for _ in 0..3 {
            let Some(tick) = r.poll_ready(READ, &waker) else {
                pending = true;
                break;
            };
            match sock.read() {
                // Always less than the buffer: a short read.
                Read::Data => r.clear_after_short_read(tick),
                Read::Eof => {
                    eof = true;
                    break;
                }
                Read::WouldBlock => r.clear_ready(READ, tick),
            }
        }
        driver.join().unwrap();
        assert!(eof || !pending || woken(&count));
        // The hang-up is permanent: a short read after it keeps readiness.
        let tick = r.poll_ready(READ, &waker).expect("read-closed stays ready");
        r.clear_after_short_read(tick);
        assert!(r.poll_ready(READ, &waker).is_some());
    });
}

/// A reader and a writer wait on one source while one event makes both ready:
/// each is woken or sees its direction ready; an event for one direction never
/// wakes or readies the other.
#[test]
fn reader_and_writer_wait_while_both_become_ready() {
    loom::model(|| {
        let r = Arc::new(Readiness::new());
        let (rc, rw) = counting_waker();
        let (wc, ww) = counting_waker();
        // Both directions drained first.
        let t = r.poll_ready(READ, &rw).unwrap();
        r.clear_ready(READ, t);
        let t = r.poll_ready(WRITE, &ww).unwrap();
        r.clear_ready(WRITE, t);
        let driver = {
            let r = r.clone();
            thread::spawn(move || {
                deliver_and_wake(&r, false, true, false);
                deliver_and_wake(&r, true, false, false);
            })
        };
        let writer = {
            let r = r.clone();
            let ww = ww.clone();
            thread::spawn(move || r.poll_ready(WRITE, &ww).is_some())
        };
        let read_now = r.poll_ready(READ, &rw).is_some();
        let write_now = writer.join().unwrap();
        driver.join().unwrap();
        assert!(read_now || woken(&rc));
        assert!(write_now || woken(&wc));
    });
}
