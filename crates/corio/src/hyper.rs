//! hyper 1.x on corio (feature `hyper`): what hyper needs from a runtime.
//!
//! * I/O: [`net::TcpStream`](crate::net::TcpStream) and
//!   [`net::UnixStream`](crate::net::UnixStream) implement `hyper::rt::Read`
//!   and `hyper::rt::Write` themselves; hand them to hyper as they are. Reads go
//!   into hyper's buffer without zeroing it first, writes are vectored.
//! * [`CorioTimer`]: hyper's `Timer` on corio's timer wheel. Give it to every
//!   server builder: without a timer hyper silently ignores
//!   `header_read_timeout` (its slowloris protection) and keep-alive timeouts.
//! * [`CorioExecutor`]: hyper's `Executor`, spawning with
//!   [`create_task`](crate::create_task). HTTP/2 (both sides) needs it for its
//!   stream tasks.
//!
//! An HTTP/1 server and a client talking to it:
//!
//! ```
//! use bytes::Bytes;
//! use corio::hyper::CorioTimer;
//! use corio::net::{TcpListener, TcpStream};
//! use http_body_util::{BodyExt, Full};
//! use hyper::{service::service_fn, Request, Response};
//! use std::{convert::Infallible, time::Duration};
//!
//! async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from("Hello, World!"))))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! corio::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     corio::create_task(async move {
//!         while let Ok((stream, _)) = listener.accept().await {
//!             corio::create_task(async move {
//!                 let conn = hyper::server::conn::http1::Builder::new()
//!                     .timer(CorioTimer)
//!                     .header_read_timeout(Duration::from_secs(10))
//!                     .serve_connection(stream, service_fn(hello));
//!                 if let Err(e) = conn.await {
//!                     eprintln!("connection error: {e}");
//!                 }
//!             });
//!         }
//!     });
//!
//!     let stream = TcpStream::connect(addr).await?;
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await?;
//!     corio::create_task(conn);
//!     let req = Request::get("/").header("host", "localhost").body(Full::new(Bytes::new()))?;
//!     let resp = sender.send_request(req).await?;
//!     let body = resp.into_body().collect().await?.to_bytes();
//!     assert_eq!(body, "Hello, World!");
//!     Ok(())
//! })
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::runtime::Handle;
use crate::time::Sleep;

/// hyper's `Executor` on corio: each future hyper hands over (an HTTP/2
/// stream, a client connection's background work) becomes a detached corio
/// task.
///
/// `CorioExecutor::new()` spawns on the runtime current at the time of each
/// spawn (hyper spawns from inside its connection futures, so that is the
/// runtime serving the connection); [`CorioExecutor::with_handle`] pins one.
///
/// ```
/// use corio::hyper::CorioExecutor;
/// let builder = hyper::server::conn::http2::Builder::new(CorioExecutor::new());
/// # drop(builder);
/// ```
#[derive(Clone, Debug, Default)]
pub struct CorioExecutor {
    handle: Option<Handle>,
}

impl CorioExecutor {
    /// Spawns on the current runtime (see the type's docs).
    pub fn new() -> CorioExecutor {
        CorioExecutor { handle: None }
    }

    /// Spawns on the runtime of `handle`, from any thread.
    pub fn with_handle(handle: Handle) -> CorioExecutor {
        CorioExecutor {
            handle: Some(handle),
        }
    }
}

impl<F> ::hyper::rt::Executor<F> for CorioExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// # Panics
    ///
    /// Without a handle, outside a corio runtime (as `create_task`).
    fn execute(&self, fut: F) {
        // Dropping the Task detaches it: hyper owns the future's lifetime.
        match &self.handle {
            Some(handle) => drop(handle.create_task(fut)),
            None => drop(crate::create_task(fut)),
        }
    }
}

/// hyper's `Timer` on corio's timer wheel (`corio::sleep`). `reset` moves the
/// existing wheel entry (O(1)) instead of allocating a new sleep, which hyper
/// does for every keep-alive and header-read deadline.
///
/// ```
/// use corio::hyper::CorioTimer;
/// use std::time::Duration;
///
/// let builder = hyper::server::conn::http1::Builder::new()
///     .timer(CorioTimer)
///     .header_read_timeout(Duration::from_secs(5))
///     .clone();
/// # drop(builder);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CorioTimer;

impl ::hyper::rt::Timer for CorioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(HyperSleep(crate::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(HyperSleep(crate::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn ::hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mine) => mine.get_mut().0.reset(new_deadline),
            // A sleep from another timer: replace it.
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// corio's [`Sleep`] as a `hyper::rt::Sleep` (the trait is hyper's, the type
/// corio's: a local newtype joins them).
struct HyperSleep(Sleep);

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl ::hyper::rt::Sleep for HyperSleep {}
