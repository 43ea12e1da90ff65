//! A link over a byte stream (TCP, or any tokio `AsyncRead + AsyncWrite`): each message is a
//! frame `length: u32 big-endian ‖ bytes`.
//!
//! A frame announcing more than [`MAX_MESSAGE`] bytes is refused with
//! [`LinkError::TooLarge`] as soon as its header is read, before anything is allocated for it;
//! the stream is then out of step, and every later `recv` fails the same way. End of stream
//! is [`LinkError::Closed`], also in the middle of a frame (the peer went away).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::link::{Link, LinkError, MAX_MESSAGE};

/// Length of a frame header.
pub const FRAME_HEADER: usize = 4;

/// Bytes asked of the stream per read.
const READ_CHUNK: usize = 4096;

/// The frame carrying `msg`: its length as a u32 big-endian, then the bytes.
pub fn encode_frame(msg: &[u8]) -> Result<Vec<u8>, LinkError> {
    LinkError::check_len(msg.len())?;
    let len = u32::try_from(msg.len()).map_err(|_| LinkError::TooLarge {
        len: msg.len(),
        max: MAX_MESSAGE,
    })?;
    let mut frame = Vec::with_capacity(FRAME_HEADER + msg.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(msg);
    Ok(frame)
}

/// Cuts a byte stream back into messages. Bytes go in with [`FrameDecoder::push`]; whole
/// messages come out of [`FrameDecoder::next_frame`]. After an error it stays failed.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    failed: Option<LinkError>,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next whole message, `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, LinkError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let Some(header) = self.buf.first_chunk::<FRAME_HEADER>() else {
            return Ok(None);
        };
        let announced = u32::from_be_bytes(*header);
        let len = match usize::try_from(announced) {
            Ok(len) if len <= MAX_MESSAGE => len,
            _ => {
                let e = LinkError::TooLarge {
                    len: usize::try_from(announced).unwrap_or(usize::MAX),
                    max: MAX_MESSAGE,
                };
                self.failed = Some(e.clone());
                self.buf = Vec::new();
                return Err(e);
            }
        };
        let end = FRAME_HEADER + len;
        if self.buf.len() < end {
            return Ok(None);
        }
        let msg = self.buf[FRAME_HEADER..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(msg))
    }

    /// True if no partial frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// A link over a byte stream with length-prefixed frames. `recv` is cancel-safe; a `send`
/// cancelled half-way leaves the stream out of step, so later sends fail.
#[derive(Debug)]
pub struct StreamLink<S> {
    stream: S,
    decoder: FrameDecoder,
    send_interrupted: bool,
}

/// A link over TCP.
pub type TcpLink = StreamLink<TcpStream>;

impl StreamLink<TcpStream> {
    /// Connects to `addr`.
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Self, LinkError> {
        let stream = TcpStream::connect(addr).await.map_err(io_error)?;
        Ok(Self::from_stream(stream))
    }

    /// Wraps a connected TCP stream, with Nagle's algorithm off (messages are small and
    /// latency matters).
    pub fn from_stream(stream: TcpStream) -> Self {
        // Best effort: a socket that refuses the option still works, only slower.
        let _ = stream.set_nodelay(true);
        Self::new(stream)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Result<std::net::SocketAddr, LinkError> {
        self.stream.peer_addr().map_err(io_error)
    }
}

impl<S> StreamLink<S> {
    /// Wraps a connected byte stream.
    pub fn new(stream: S) -> Self {
        StreamLink {
            stream,
            decoder: FrameDecoder::new(),
            send_interrupted: false,
        }
    }

    /// The underlying stream.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Link for StreamLink<S> {
    async fn send(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        let frame = encode_frame(msg)?;
        if self.send_interrupted {
            return Err(LinkError::Io("an earlier send was interrupted".into()));
        }
        self.send_interrupted = true;
        self.stream.write_all(&frame).await.map_err(io_error)?;
        self.stream.flush().await.map_err(io_error)?;
        self.send_interrupted = false;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if let Some(msg) = self.decoder.next_frame()? {
                return Ok(msg);
            }
            // `read` is cancel-safe: bytes read are in the decoder before the next await.
            let n = self.stream.read(&mut chunk).await.map_err(io_error)?;
            if n == 0 {
                return Err(LinkError::Closed);
            }
            self.decoder.push(&chunk[..n]);
        }
    }
}

/// Maps an I/O error; a connection reset or broken pipe is the peer going away.
fn io_error(e: io::Error) -> LinkError {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => LinkError::Closed,
        _ => LinkError::Io(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8], cut: usize) -> (Vec<Vec<u8>>, Result<(), LinkError>) {
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(cut.max(1)) {
            d.push(piece);
            loop {
                match d.next_frame() {
                    Ok(Some(m)) => out.push(m),
                    Ok(None) => break,
                    Err(e) => return (out, Err(e)),
                }
            }
        }
        (out, Ok(()))
    }

    proptest! {
        #[test]
        fn frames_round_trip_however_the_stream_is_cut(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..8),
            cut in 1usize..700,
        ) {
            let mut stream = Vec::new();
            for m in &msgs {
                stream.extend(encode_frame(m).unwrap());
            }
            let (out, res) = decode_all(&stream, cut);
            prop_assert_eq!(res, Ok(()));
            prop_assert_eq!(out, msgs);
        }

        #[test]
        fn truncated_streams_yield_only_whole_messages(
            msg in proptest::collection::vec(any::<u8>(), 0..600),
            keep in 0usize..604,
        ) {
            let frame = encode_frame(&msg).unwrap();
            let keep = keep.min(frame.len());
            let (out, res) = decode_all(&frame[..keep], 7);
            prop_assert_eq!(res, Ok(()));
            if keep == frame.len() {
                prop_assert_eq!(out, vec![msg]);
            } else {
                prop_assert!(out.is_empty());
            }
        }

        #[test]
        fn oversize_headers_are_refused(len in (MAX_MESSAGE as u32 + 1)..=u32::MAX) {
            let mut d = FrameDecoder::new();
            d.push(&len.to_be_bytes());
            let refused = matches!(d.next_frame(), Err(LinkError::TooLarge { max: MAX_MESSAGE, .. }));
            prop_assert!(refused);
            // Stays failed, and holds nothing.
            d.push(&[0; 16]);
            prop_assert!(d.next_frame().is_err());
            prop_assert!(d.is_empty());
        }
    }

    #[test]
    fn encode_refuses_oversize() {
        assert!(encode_frame(&vec![0; MAX_MESSAGE]).is_ok());
        assert!(matches!(
            encode_frame(&vec![0; MAX_MESSAGE + 1]),
            Err(LinkError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn duplex_stream_link_round_trip_and_eof() {
        let (x, y) = tokio::io::duplex(64);
        let mut a = StreamLink::new(x);
        let mut b = StreamLink::new(y);
        let msg = vec![7u8; 1000];
        let (sent, got) = tokio::join!(a.send(&msg), b.recv());
        sent.unwrap();
        assert_eq!(got.unwrap(), msg);
        drop(a);
        assert_eq!(b.recv().await, Err(LinkError::Closed));
    }

    #[tokio::test]
    async fn a_peer_announcing_a_huge_frame_is_refused() {
        let (mut x, y) = tokio::io::duplex(64);
        let mut b = StreamLink::new(y);
        x.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(matches!(b.recv().await, Err(LinkError::TooLarge { .. })));
        assert!(matches!(b.recv().await, Err(LinkError::TooLarge { .. })));
    }

    #[tokio::test]
    async fn eof_inside_a_frame_is_closed() {
        let (mut x, y) = tokio::io::duplex(64);
        let mut b = StreamLink::new(y);
        x.write_all(&[0, 0, 0, 10, 1, 2, 3]).await.unwrap();
        drop(x);
        assert_eq!(b.recv().await, Err(LinkError::Closed));
    }

    #[tokio::test]
    async fn tcp_connect_and_exchange() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut link = TcpLink::from_stream(s);
            let m = link.recv().await.unwrap();
            link.send(&m).await.unwrap();
        });
        let mut c = TcpLink::connect(addr).await.unwrap();
        assert_eq!(c.peer_addr().unwrap(), addr);
        c.send(b"echo").await.unwrap();
        assert_eq!(c.recv().await.unwrap(), b"echo");
        server.await.unwrap();
        assert_eq!(c.recv().await, Err(LinkError::Closed));
    }
}
