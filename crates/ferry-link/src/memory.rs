//! An in-memory link over tokio channels, for tests and for two wallets in one process.
//!
//! Messages arrive instantly and in order; dropping one end makes the other end's `recv`
//! return [`LinkError::Closed`] once it has received everything sent before the drop.

use tokio::sync::mpsc;

use crate::link::{Link, LinkError};

/// One end of an in-memory link made by [`pair`].
#[derive(Debug)]
pub struct MemoryLink {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
}

/// Two connected ends of an in-memory link.
pub fn pair() -> (MemoryLink, MemoryLink) {
    let (a_tx, b_rx) = mpsc::unbounded_channel();
    let (b_tx, a_rx) = mpsc::unbounded_channel();
    (
        MemoryLink { tx: a_tx, rx: a_rx },
        MemoryLink { tx: b_tx, rx: b_rx },
    )
}

impl Link for MemoryLink {
    async fn send(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        LinkError::check_len(msg.len())?;
        self.tx.send(msg.to_vec()).map_err(|_| LinkError::Closed)
    }

    async fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        self.rx.recv().await.ok_or(LinkError::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::MAX_MESSAGE;

    #[tokio::test]
    async fn messages_arrive_in_order_both_ways() {
        let (mut a, mut b) = pair();
        a.send(b"one").await.unwrap();
        a.send(b"").await.unwrap();
        b.send(b"back").await.unwrap();
        assert_eq!(b.recv().await.unwrap(), b"one");
        assert_eq!(b.recv().await.unwrap(), b"");
        assert_eq!(a.recv().await.unwrap(), b"back");
    }

    #[tokio::test]
    async fn dropping_one_end_closes_the_other_after_pending_messages() {
        let (mut a, mut b) = pair();
        a.send(b"last words").await.unwrap();
        drop(a);
        assert_eq!(b.recv().await.unwrap(), b"last words");
        assert_eq!(b.recv().await, Err(LinkError::Closed));
        assert_eq!(b.send(b"anyone?").await, Err(LinkError::Closed));
    }

    #[tokio::test]
    async fn oversize_messages_are_refused() {
        let (mut a, _b) = pair();
        let big = vec![0; MAX_MESSAGE + 1];
        assert!(matches!(
            a.send(&big).await,
            Err(LinkError::TooLarge { .. })
        ));
        a.send(&big[..MAX_MESSAGE]).await.unwrap();
    }
}
