//! The node's table of live peer connections: one link per peer key, the newest connection
//! wins, and a link taken out of the table closes its connection.
//!
//! Why the last part matters: a connection's read loop keeps a sender of its own (for the
//! replies to that peer's requests), so dropping the table's sender alone leaves the TCP
//! connection open. A peer cut off for not reading, or replaced by its own newer connection,
//! would then stay connected but never hear another push from this node, and, being
//! connected, never redial. Each link therefore carries a cut signal its read loop waits on:
//! whenever the table lets go of a link (cut, replaced, removed), the loop ends and the
//! connection closes, so the dialing side reconnects and the clock exchange on connect
//! repairs what was missed.

use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};

/// A peer's identity on the wire: its compressed public key.
pub type PeerKey = [u8; 33];

/// Which connection of a peer a link is (a peer may reconnect while an old connection's read
/// loop has not yet noticed the old one is gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkId(u64);

/// What a connection's read loop keeps of its registration.
#[derive(Debug)]
pub struct Registration {
    pub id: LinkId,
    /// Resolves (with an error: its sender is dropped) when the table lets go of this link.
    pub cut: oneshot::Receiver<()>,
}

#[derive(Debug)]
struct Link {
    id: LinkId,
    frames: mpsc::Sender<Vec<u8>>,
    /// Never sent on: dropping it, with the link, is the signal.
    _cut: oneshot::Sender<()>,
}

/// Live links by peer key.
#[derive(Debug, Default)]
pub struct PeerTable {
    links: BTreeMap<PeerKey, Link>,
    next_id: u64,
}

impl PeerTable {
    /// Registers a new connection of `key`, whose writer drains `frames`. An older link of the
    /// same peer is let go, which closes its connection: one connection per peer.
    pub fn add(&mut self, key: PeerKey, frames: mpsc::Sender<Vec<u8>>) -> Registration {
        let id = LinkId(self.next_id);
        self.next_id += 1;
        let (cut_tx, cut_rx) = oneshot::channel();
        self.links.insert(
            key,
            Link {
                id,
                frames,
                _cut: cut_tx,
            },
        );
        Registration { id, cut: cut_rx }
    }

    /// A connection ended: its link leaves the table, unless the peer has a newer one.
    pub fn remove(&mut self, key: &PeerKey, id: LinkId) {
        if self.links.get(key).is_some_and(|l| l.id == id) {
            self.links.remove(key);
        }
    }

    /// Queues `frame` for every peer. A peer whose queue is full does not read: its link is
    /// let go (its connection closes and it reconnects) rather than let the queue grow.
    /// Returns the keys of the peers cut off.
    pub fn send_all(&mut self, frame: &[u8]) -> Vec<PeerKey> {
        let stalled: Vec<PeerKey> = self
            .links
            .iter()
            .filter(|(_, l)| l.frames.try_send(frame.to_vec()).is_err())
            .map(|(k, _)| *k)
            .collect();
        for key in &stalled {
            self.links.remove(key);
        }
        stalled
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tokio::sync::oneshot::error::TryRecvError;

    fn key(b: u8) -> PeerKey {
        [b; 33]
    }

    fn is_cut(r: &mut Registration) -> bool {
        matches!(r.cut.try_recv(), Err(TryRecvError::Closed))
    }

    #[test]
    fn a_peer_that_does_not_read_is_cut_and_its_connection_told_to_close() {
        let mut table = PeerTable::default();
        let (slow_tx, _slow_rx) = mpsc::channel(2);
        let (fast_tx, mut fast_rx) = mpsc::channel(16);
        let mut slow = table.add(key(1), slow_tx);
        let mut fast = table.add(key(2), fast_tx);
        assert!(table.send_all(b"a").is_empty());
        assert!(table.send_all(b"b").is_empty());
        // The slow peer's queue (2) is full: the third frame cuts it, and only it.
        assert_eq!(table.send_all(b"c"), vec![key(1)]);
        assert!(is_cut(&mut slow));
        assert!(!is_cut(&mut fast));
        assert_eq!(table.len(), 1);
        for want in [b"a", b"b", b"c"] {
            assert_eq!(fast_rx.try_recv().unwrap(), want.to_vec());
        }
        // Later frames go to the peers still linked only.
        assert!(table.send_all(b"d").is_empty());
        assert_eq!(fast_rx.try_recv().unwrap(), b"d".to_vec());
    }

    #[test]
    fn a_newer_connection_replaces_the_older_which_cannot_remove_it() {
        let mut table = PeerTable::default();
        let (old_tx, _old_rx) = mpsc::channel(4);
        let (new_tx, mut new_rx) = mpsc::channel(4);
        let mut old = table.add(key(7), old_tx);
        let mut new = table.add(key(7), new_tx);
        assert_ne!(old.id, new.id);
        // The older link is let go: its read loop ends and closes that connection.
        assert!(is_cut(&mut old));
        assert!(!is_cut(&mut new));
        // The old connection's read loop ends and removes its link: the newer one stays.
        table.remove(&key(7), old.id);
        assert_eq!(table.len(), 1);
        assert!(table.send_all(b"x").is_empty());
        assert_eq!(new_rx.try_recv().unwrap(), b"x".to_vec());
        // The newer one's own end removes it.
        table.remove(&key(7), new.id);
        assert_eq!(table.len(), 0);
        assert!(is_cut(&mut new));
    }

    #[test]
    fn a_peer_whose_writer_is_gone_is_cut_too() {
        let mut table = PeerTable::default();
        let (tx, rx) = mpsc::channel(4);
        let mut r = table.add(key(3), tx);
        drop(rx);
        assert_eq!(table.send_all(b"x"), vec![key(3)]);
        assert!(is_cut(&mut r));
    }
}
