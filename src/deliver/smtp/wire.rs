//! The socket under lettre: plain TCP or TLS, holding what is written
//! until the next read, so that pipelined commands and a whole message
//! leave in one write.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Appends bytes to a `WriteBehind`'s buffer; they leave with the next read.
#[derive(Debug, Clone)]
pub(super) struct RawWriter(Arc<Mutex<Vec<u8>>>, Arc<AtomicBool>);

impl RawWriter {
    pub(super) fn push(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
    }

    /// Whether anything was ever written on the connection.
    pub(super) fn wrote(&self) -> bool {
        self.1.load(Ordering::Relaxed)
    }

    /// The DATA content: every line starting with `.` gets another (RFC
    /// 5321 4.5.2), then the closing `.` line. `bytes` has CRLF line ends.
    pub(super) fn push_message(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        buf.reserve(bytes.len() + 64);
        if bytes.first() == Some(&b'.') {
            buf.push(b'.');
        }
        let mut start = 0;
        for at in memchr::memmem::find_iter(bytes, b"\n.") {
            buf.extend_from_slice(&bytes[start..=at]);
            buf.push(b'.');
            start = at + 1;
        }
        buf.extend_from_slice(&bytes[start..]);
        if !bytes.ends_with(b"\r\n") {
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b".\r\n");
    }
}

/// A TCP stream that holds what is written until the next read, so a
/// command, or a message and its closing dot, leave in one segment
/// instead of one per `write` call lettre makes.
#[derive(Debug)]
pub(super) struct WriteBehind {
    inner: Stream,
    /// Bytes to hand the reader before any from `inner`: after STARTTLS,
    /// the greeting once more, for lettre to start its session on.
    preface: Vec<u8>,
    pending: Arc<Mutex<Vec<u8>>>,
    wrote: Arc<AtomicBool>,
    /// Bytes taken from `pending` and not yet accepted by the socket.
    out: Vec<u8>,
    sent: usize,
}

impl WriteBehind {
    pub(super) fn new(inner: Stream, preface: Vec<u8>) -> (Self, RawWriter) {
        let pending = Arc::new(Mutex::new(Vec::with_capacity(64 * 1024)));
        let wrote = Arc::new(AtomicBool::new(false));
        let stream = Self {
            inner,
            preface,
            pending: pending.clone(),
            wrote: wrote.clone(),
            out: Vec::with_capacity(64 * 1024),
            sent: 0,
        };
        (stream, RawWriter(pending, wrote))
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.sent < self.out.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.sent += n;
            }
            self.out.clear();
            self.sent = 0;
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.is_empty() {
                drop(pending);
                // TLS may hold records it could not write yet; plain TCP
                // has nothing to flush.
                return Pin::new(&mut self.inner).poll_flush(cx);
            }
            std::mem::swap(&mut self.out, &mut pending);
        }
    }

    pub(super) fn pending_len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Past this, writes go out without waiting for a read.
const HOLD_LIMIT: usize = 1 << 20;

impl AsyncWrite for WriteBehind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending_len() >= HOLD_LIMIT {
            ready!(self.poll_drain(cx))?;
        }
        self.wrote.store(true, Ordering::Relaxed);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    /// Deliberately holds the data: every SMTP write is followed by a read
    /// of the reply, and that read sends it.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncRead for WriteBehind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        if !self.preface.is_empty() {
            let n = self.preface.len().min(buf.remaining());
            buf.put_slice(&self.preface[..n]);
            self.preface.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncTokioStream for WriteBehind {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            Stream::Plain(tcp) => tcp.peer_addr(),
            Stream::Tls(tls) => tls.get_ref().0.peer_addr(),
        }
    }
}

/// The socket below `WriteBehind`: plain TCP, or TLS of our own over it.
#[derive(Debug)]
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
