//! Host-name resolution off the workers: `getaddrinfo` blocks, so a name is
//! looked up on the blocking pool (`to_thread`), as tokio's `net/addr.rs` does with
//! `spawn_blocking`. Literal addresses (a `SocketAddr`, `"127.0.0.1:80"`,
//! `("::1", 80)`) are parsed in place and never leave the task.

use std::any::Any;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};

/// The addresses `addr` names, resolving host names on the blocking pool (inline
/// when no corio runtime is running: under another executor the caller's thread
/// does the lookup, as `std` would).
pub(crate) async fn resolve<A>(addr: A) -> io::Result<Vec<SocketAddr>>
where
    A: ToSocketAddrs + Send + 'static,
{
    if let Some(addrs) = literal(&addr) {
        return Ok(addrs);
    }
    let lookup = move || addr.to_socket_addrs().map(Iterator::collect);
    if crate::Handle::try_current().is_none() {
        return lookup();
    }
    crate::to_thread(lookup).await?
}

/// The addresses of `addr` when it is written out as numbers (no lookup needed);
/// `None` when it may name a host.
fn literal<A: Any>(addr: &A) -> Option<Vec<SocketAddr>> {
    let any = addr as &dyn Any;
    let ip_port = |host: &str, port: u16| {
        host.parse::<IpAddr>()
            .ok()
            .map(|ip| vec![SocketAddr::new(ip, port)])
    };
    if let Some(a) = any.downcast_ref::<SocketAddr>() {
        Some(vec![*a])
    } else if let Some(a) = any.downcast_ref::<SocketAddrV4>() {
        Some(vec![SocketAddr::V4(*a)])
    } else if let Some(a) = any.downcast_ref::<SocketAddrV6>() {
        Some(vec![SocketAddr::V6(*a)])
    } else if let Some((ip, port)) = any.downcast_ref::<(IpAddr, u16)>() {
        Some(vec![SocketAddr::new(*ip, *port)])
    } else if let Some((ip, port)) = any.downcast_ref::<(Ipv4Addr, u16)>() {
        Some(vec![SocketAddr::new(IpAddr::V4(*ip), *port)])
    } else if let Some((ip, port)) = any.downcast_ref::<(Ipv6Addr, u16)>() {
        Some(vec![SocketAddr::new(IpAddr::V6(*ip), *port)])
    } else if let Some(s) = any.downcast_ref::<&'static str>() {
        s.parse().ok().map(|a| vec![a])
    } else if let Some(s) = any.downcast_ref::<String>() {
        s.parse().ok().map(|a| vec![a])
    } else if let Some((host, port)) = any.downcast_ref::<(&'static str, u16)>() {
        ip_port(host, *port)
    } else if let Some((host, port)) = any.downcast_ref::<(String, u16)>() {
        ip_port(host, *port)
    } else if let Some(v) = any.downcast_ref::<Vec<SocketAddr>>() {
        Some(v.clone())
    } else {
        any.downcast_ref::<&'static [SocketAddr]>()
            .map(|s| s.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_need_no_lookup_and_names_do() {
        let sa: SocketAddr = "10.0.0.1:80".parse().unwrap();
        assert_eq!(literal(&sa), Some(vec![sa]));
        assert_eq!(literal(&"10.0.0.1:80"), Some(vec![sa]));
        assert_eq!(literal(&String::from("10.0.0.1:80")), Some(vec![sa]));
        assert_eq!(literal(&("10.0.0.1", 80u16)), Some(vec![sa]));
        assert!(literal(&("::1", 80u16)).is_some());
        assert_eq!(literal(&"localhost:80"), None);
        assert_eq!(literal(&("example.com", 80u16)), None);
    }
}
