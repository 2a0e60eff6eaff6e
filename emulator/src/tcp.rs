//! How the emulator's HTTP servers set up their sockets.
//!
//! A streamed answer is written in many small pieces (the prelude, its 8-NUL separator, then the body as
//! it is assembled). With Nagle's algorithm on at the sender, every small piece after the first waits for
//! the peer's ACK, and a Linux peer with nothing to send delays that ACK by up to 40 ms — so each streamed
//! answer took 40 ms more than its work. Two fixes, one per direction:
//!
//! * servers that send streamed answers (front door, Invoke API) set `TCP_NODELAY` ([`no_delay`]);
//! * the Runtime API *receives* streamed answers from `lambda_runtime`, whose client keeps Nagle on and
//!   cannot be configured; it acknowledges every read at once (`TCP_QUICKACK`, [`QuickAckListener`]), so
//!   the function's next piece leaves without waiting.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::{Listener, ListenerExt, TapIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// `listener` with `TCP_NODELAY` set on every accepted connection (a concrete type, so that
/// `ConnectInfo<SocketAddr>` still works).
pub fn no_delay(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(set_no_delay as fn(&mut TcpStream))
}

fn set_no_delay(tcp: &mut TcpStream) {
    // Failing leaves the connection working, only slower for streamed answers.
    let _ = tcp.set_nodelay(true);
}

/// Asks the kernel to acknowledge received data at once instead of delaying the ACK. Linux leaves
/// quick-ACK mode on its own, so this is repeated after every read; failing only costs speed.
#[allow(unsafe_code)]
fn quick_ack(tcp: &TcpStream) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor owned by `tcp`, a pointer to a live c_int and its size.
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// A listener whose connections acknowledge every read at once and send without Nagle's delay.
pub struct QuickAckListener(pub TcpListener);

impl Listener for QuickAckListener {
    type Io = QuickAck;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (QuickAck, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((tcp, addr)) => {
                    let _ = tcp.set_nodelay(true);
                    quick_ack(&tcp);
                    return (QuickAck(tcp), addr);
                }
                // Out of descriptors and the like: wait a little, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A TCP connection that re-arms `TCP_QUICKACK` after every read.
pub struct QuickAck(TcpStream);

impl AsyncRead for QuickAck {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            quick_ack(&self.0);
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One connection accepted by `listener` from a local client (the client end is returned too, so the
    /// connection stays open while it is inspected).
    async fn accept_one<L: Listener<Addr = SocketAddr>>(mut listener: L) -> (L::Io, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let (io, _) = listener.accept().await;
        (io, client.await.unwrap())
    }

    /// The Runtime API's connections send without Nagle and are in quick-ACK mode from the start: a
    /// function streaming small pieces must not wait for delayed ACKs.
    #[tokio::test]
    async fn runtime_api_connections_ack_at_once() {
        let (io, _client) = accept_one(QuickAckListener(TcpListener::bind("127.0.0.1:0").await.unwrap())).await;
        assert!(io.0.nodelay().unwrap(), "TCP_NODELAY not set");
        let mut on: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid socket descriptor, a live c_int and its size.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::getsockopt(
                io.0.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&mut on as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(on, 1, "TCP_QUICKACK not set");
    }

    /// The front door's and Invoke API's connections send streamed pieces without Nagle's delay.
    #[tokio::test]
    async fn front_door_connections_send_without_nagle() {
        let (io, _client) = accept_one(no_delay(TcpListener::bind("127.0.0.1:0").await.unwrap())).await;
        assert!(io.nodelay().unwrap(), "TCP_NODELAY not set");
    }
}
