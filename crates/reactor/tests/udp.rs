//! UDP: send_to/recv_from and connected send/recv.
mod common;

use common::*;
use corio_reactor::net::UdpSocket;

#[test]
fn send_to_recv_from_ping_pong() {
    run(30, async {
        let a = UdpSocket::bind("127.0.0.1:0")?;
        let b = UdpSocket::bind("127.0.0.1:0")?;
        let (aa, ba) = (a.local_addr()?, b.local_addr()?);
        let pong = async {
            let mut buf = [0u8; 64];
            for _ in 0..200 {
                let (n, from) = b.recv_from(&mut buf).await?;
                assert_eq!(from, aa);
                b.send_to(&buf[..n], from).await?;
            }
            std::io::Result::Ok(())
        };
        let ping = async {
            let mut buf = [0u8; 64];
            for i in 0..200u32 {
                a.send_to(&i.to_le_bytes(), ba).await?;
                let (n, from) = a.recv_from(&mut buf).await?;
                assert_eq!((n, from), (4, ba));
                assert_eq!(buf[..4], i.to_le_bytes());
            }
            std::io::Result::Ok(())
        };
        futures::try_join!(ping, pong)?;
        std::io::Result::Ok(())
    })
    .expect("udp ping-pong");
}

#[test]
fn connected_send_recv() {
    run(30, async {
        let a = UdpSocket::bind("127.0.0.1:0")?;
        let b = UdpSocket::bind("127.0.0.1:0")?;
        a.connect(b.local_addr()?)?;
        b.connect(a.local_addr()?)?;
        assert_eq!(a.peer_addr()?, b.local_addr()?);
        a.send(b"one").await?;
        let mut buf = [0u8; 8];
        let n = b.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"one");
        let mut peek = [0u8; 8];
        b.send(b"two").await?;
        let (n, from) = a.peek_from(&mut peek).await?;
        assert_eq!((&peek[..n], from), (&b"two"[..], b.local_addr()?));
        let n = a.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"two");
        std::io::Result::Ok(())
    })
    .expect("connected udp");
}
