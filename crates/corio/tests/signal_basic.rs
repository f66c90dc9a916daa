//! corio::signal: signal streams and ctrl_c, driven by raise(3).

mod sync_support;

use std::time::Duration;

use corio::signal::{signal, SIGUSR1, SIGUSR2};
use futures::StreamExt;
use sync_support::run_timeout;

fn raise(sig: i32) {
    // SAFETY: raise(3) with a signal whose corio handler is installed.
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

#[test]
fn stream_receives_its_signal_only() {
    run_timeout(async {
        let mut usr1 = signal(SIGUSR1).unwrap();
        let mut usr2 = signal(SIGUSR2).unwrap();
        assert_eq!(usr1.signum(), SIGUSR1);
        raise(SIGUSR1);
        assert_eq!(
            corio::wait_for(usr1.next(), Duration::from_secs(5))
                .await
                .unwrap(),
            Some(())
        );
        // SIGUSR2 has not been raised: its stream waits.
        assert!(corio::wait_for(usr2.next(), Duration::from_millis(50))
            .await
            .is_err());
        raise(SIGUSR2);
        assert_eq!(
            corio::wait_for(usr2.recv(), Duration::from_secs(5))
                .await
                .unwrap(),
            Some(())
        );
    });
}

#[test]
fn every_stream_of_a_signal_sees_it() {
    run_timeout(async {
        let mut a = signal(libc::SIGWINCH).unwrap();
        let mut b = signal(libc::SIGWINCH).unwrap();
        // One task waits while the other stream consumes the pipe's byte first.
        let waiter = corio::create_task(async move { a.next().await });
        corio::sleep(Duration::from_millis(20)).await;
        raise(libc::SIGWINCH);
        assert_eq!(
            corio::wait_for(b.next(), Duration::from_secs(5))
                .await
                .unwrap(),
            Some(())
        );
        assert_eq!(
            corio::wait_for(waiter, Duration::from_secs(5))
                .await
                .unwrap()
                .unwrap(),
            Some(())
        );
    });
}

#[test]
fn ctrl_c_resolves_on_sigint() {
    run_timeout(async {
        // ctrl_c() installs the handler when called: raising right away (before
        // the task is first polled) is not lost, and does not end the process.
        let waiter = corio::create_task(corio::signal::ctrl_c());
        let mut probe = signal(libc::SIGINT).unwrap();
        raise(libc::SIGINT);
        corio::wait_for(waiter, Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(probe.next().await, Some(()));
    });
}

#[test]
fn uncatchable_signals_are_refused() {
    for sig in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, 1000] {
        let err = signal(sig).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {sig}");
    }
}
