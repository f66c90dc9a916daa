//! A seam for deterministic simulators: corio's crates ask [`check`] before
//! they let the real world into a program — hand work to an OS thread, start a
//! child process, install a signal handler — whose timing no simulator
//! controls.
//!
//! A simulator (corio's `corio::sim`, feature `sim`) running on a thread
//! installs a hook there with [`deny`]; every [`check`] on that thread then
//! calls it and fails with the error it returns, at the call that let the real
//! world in (the first divergence from a deterministic run). Without the
//! feature, `check` is an inlined `Ok(())`: nothing is compiled in.
//!
//! ```
//! # #[cfg(feature = "sim")] {
//! use corio_core::real_world;
//!
//! assert!(real_world::check("a job for a thread pool").is_ok());
//! let _denied = real_world::deny(|what| format!("{what} inside a simulation"));
//! let err = real_world::check("a job for a thread pool").unwrap_err();
//! assert_eq!(err.to_string(), "a job for a thread pool inside a simulation");
//! # }
//! ```

/// `Err` with the installed hook's message when a simulator denies the real
/// world on this thread; `what` says what was about to happen and what to use
/// instead. Always `Ok(())` without the `sim` feature.
#[cfg(not(feature = "sim"))]
#[inline(always)]
pub fn check(what: &str) -> std::io::Result<()> {
    let _ = what;
    Ok(())
}

#[cfg(feature = "sim")]
pub use hook::{check, deny, Denied};

#[cfg(feature = "sim")]
mod hook {
    use std::cell::RefCell;
    use std::fmt;
    use std::io;
    use std::rc::Rc;

    type Hook = Rc<dyn Fn(&str) -> String>;

    thread_local! {
        static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// `Err` with the installed hook's message when a simulator denies the
    /// real world on this thread (see [`deny`]); `what` says what was about to
    /// happen and what to use instead.
    #[inline]
    pub fn check(what: &str) -> io::Result<()> {
        // Cloned out first: the hook may run code that checks again.
        let hook = HOOK.with(|h| h.borrow().clone());
        match hook {
            None => Ok(()),
            Some(hook) => Err(io::Error::other(hook(what))),
        }
    }

    /// Makes every [`check`] on this thread fail, with the message `report`
    /// makes of what was attempted (it may also record the attempt), until
    /// the returned guard is dropped.
    pub fn deny(report: impl Fn(&str) -> String + 'static) -> Denied {
        let prev = HOOK.with(|h| h.borrow_mut().replace(Rc::new(report)));
        Denied { prev }
    }

    /// Restores the previous hook (usually none) when dropped.
    #[must_use = "the real world is allowed again when the guard is dropped"]
    pub struct Denied {
        prev: Option<Hook>,
    }

    impl fmt::Debug for Denied {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Denied").finish_non_exhaustive()
        }
    }

    impl Drop for Denied {
        fn drop(&mut self) {
            let prev = self.prev.take();
            HOOK.with(|h| *h.borrow_mut() = prev);
        }
    }
}
