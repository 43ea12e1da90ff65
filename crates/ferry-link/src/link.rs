//! The [`Link`] trait: a reliable, ordered, message-oriented duplex channel between two devices.
//!
//! A link moves whole messages of at most [`MAX_MESSAGE`] bytes; it knows nothing of what they
//! mean. Timeouts are the caller's business (`tokio::time::timeout` around `send` or `recv`).
//!
//! `recv` is cancel-safe in every link of this crate: a `recv` dropped before it completes
//! loses no message. A cancelled `send` may or may not have delivered its message.

use std::future::Future;

use thiserror::Error;

/// The largest message a link carries, in bytes.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// Why a link operation failed. Errors never carry message bytes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// The other end went away (closed, dropped, or the radio link was lost).
    #[error("link closed")]
    Closed,
    /// A message longer than the link carries, sent or announced by the peer.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The message's length.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// The peer sent bytes that are not a valid frame or fragment.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    /// An I/O error from the underlying transport.
    #[error("i/o error: {0}")]
    Io(String),
}

impl LinkError {
    /// [`LinkError::TooLarge`] for a message of `len` bytes, if it exceeds [`MAX_MESSAGE`].
    pub fn check_len(len: usize) -> Result<(), LinkError> {
        if len > MAX_MESSAGE {
            Err(LinkError::TooLarge {
                len,
                max: MAX_MESSAGE,
            })
        } else {
            Ok(())
        }
    }
}

/// A reliable, ordered duplex channel of whole messages (each at most [`MAX_MESSAGE`] bytes).
pub trait Link: Send {
    /// Sends one whole message.
    fn send(&mut self, msg: &[u8]) -> impl Future<Output = Result<(), LinkError>> + Send;
    /// Receives the next whole message.
    fn recv(&mut self) -> impl Future<Output = Result<Vec<u8>, LinkError>> + Send;
}

impl<L: Link> Link for &mut L {
    fn send(&mut self, msg: &[u8]) -> impl Future<Output = Result<(), LinkError>> + Send {
        (**self).send(msg)
    }
    fn recv(&mut self) -> impl Future<Output = Result<Vec<u8>, LinkError>> + Send {
        (**self).recv()
    }
}

impl<L: Link> Link for Box<L> {
    fn send(&mut self, msg: &[u8]) -> impl Future<Output = Result<(), LinkError>> + Send {
        (**self).send(msg)
    }
    fn recv(&mut self) -> impl Future<Output = Result<Vec<u8>, LinkError>> + Send {
        (**self).recv()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_len_accepts_up_to_the_maximum() {
        assert_eq!(LinkError::check_len(0), Ok(()));
        assert_eq!(LinkError::check_len(MAX_MESSAGE), Ok(()));
        assert_eq!(
            LinkError::check_len(MAX_MESSAGE + 1),
            Err(LinkError::TooLarge {
                len: MAX_MESSAGE + 1,
                max: MAX_MESSAGE
            })
        );
    }
}
