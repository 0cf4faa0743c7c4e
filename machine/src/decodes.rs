//! Decoded engine messages shared by the machines of one process.
//!
//! Decoding a message is a pure function of its bytes, and the costly part of it is point
//! decompression: a 4,000-slot dealer package commits to 2,680 points, a signing round's nonce
//! commitments to two points per party. In a simulator every node decodes every message it
//! replicates, so 200 nodes decompress each package 200 times (about 60% of the large
//! scenario's run before this memo). [`SharedDecodes`] decodes each distinct message once and
//! hands every machine a clone; dealer packages keep their commitment behind an `Arc`, so the
//! clones also share the memory.
//!
//! The memo is keyed by the bytes themselves ([`tandem_codec::memo::BytesMemo`]): a sampled
//! fingerprint picks the bucket and the stored bytes are compared in full, so a colliding message can never receive another message's
//! decoding. Only successful decodings are kept. A node of its own has no use for it (it sees
//! each message once).

use std::sync::{Arc, Mutex};
use tandem_codec::memo::BytesMemo;
use tandem_consensus::engine::wire::MessageError;
use tandem_consensus::engine::{KeygenMsg, ProducerMsg, StackerMsg};

/// One memo per message type; see the module documentation.
#[derive(Clone, Debug)]
pub struct SharedDecodes {
    inner: Arc<Mutex<Memos>>,
}

#[derive(Debug)]
struct Memos {
    keygen: BytesMemo<KeygenMsg>,
    producer: BytesMemo<ProducerMsg>,
    stacker: BytesMemo<StackerMsg>,
}

impl SharedDecodes {
    /// A memo keeping up to `budget` bytes of each message type's encodings.
    pub fn new(budget: usize) -> SharedDecodes {
        SharedDecodes {
            inner: Arc::new(Mutex::new(Memos {
                keygen: BytesMemo::new(budget),
                producer: BytesMemo::new(budget),
                stacker: BytesMemo::new(budget),
            })),
        }
    }

    /// [`KeygenMsg::decode`], once per distinct message.
    pub fn keygen(&self, bytes: &[u8]) -> Result<KeygenMsg, MessageError> {
        self.decode(bytes, |m| &mut m.keygen, KeygenMsg::decode)
    }

    /// [`ProducerMsg::decode`], once per distinct message.
    pub fn producer(&self, bytes: &[u8]) -> Result<ProducerMsg, MessageError> {
        self.decode(bytes, |m| &mut m.producer, ProducerMsg::decode)
    }

    /// [`StackerMsg::decode`], once per distinct message.
    pub fn stacker(&self, bytes: &[u8]) -> Result<StackerMsg, MessageError> {
        self.decode(bytes, |m| &mut m.stacker, StackerMsg::decode)
    }

    fn decode<T: Clone>(
        &self,
        bytes: &[u8],
        memo: impl Fn(&mut Memos) -> &mut BytesMemo<T>,
        decode: impl FnOnce(&[u8]) -> Result<T, MessageError>,
    ) -> Result<T, MessageError> {
        // A poisoned lock (a panic elsewhere while holding it) only costs the sharing.
        match self.inner.lock() {
            Ok(mut memos) => memo(&mut memos).get_or_try(bytes, decode),
            Err(_) => decode(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_consensus::engine::wire::STACKER_COMPLETE_TAG;

    #[test]
    fn undecodable_bytes_are_refused_every_time() {
        let shared = SharedDecodes::new(1 << 20);
        for _ in 0..2 {
            assert!(shared.keygen(&[0xff, 1, 2]).is_err());
            assert!(shared.producer(&[0xff, 1, 2]).is_err());
            assert!(shared.stacker(&[STACKER_COMPLETE_TAG, 1, 2]).is_err());
        }
        let memos = shared.inner.lock().unwrap();
        assert_eq!(
            memos.keygen.used() + memos.producer.used() + memos.stacker.used(),
            0
        );
    }
}
