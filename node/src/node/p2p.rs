//! Peer-to-peer: TCP between the peers a config lists, carrying the Stacker DB replication
//! protocol (`tandem_stackerdb::SyncMessage`) of every DB instance both nodes hold.
//!
//! - **Frames**: a u32 big-endian length, then the payload; a length over [`MAX_FRAME`] ends
//!   the connection before anything is read.
//! - **Handshake**: each side sends `Hello {version, its public key, a random challenge}`, then
//!   `Proof {signature}`: an ECDSA signature by its node key over
//!   `SHA-256("tandem-p2p-v1" || the other side's challenge || its own key)`. A peer whose key is
//!   not in the config, or whose proof does not verify, is dropped and logged.
//! - **After it**: `Sync {db, message}` frames. A node pushes every chunk its replica accepts from
//!   its own machine to every peer; a peer's chunks pass the write rules of the local replica
//!   and, if accepted, go to the machine; replies go back to that peer. On connect and every
//!   [`ANTI_ENTROPY_MS`], a node asks each peer for its clocks, so chunks missed while a link
//!   was down are repaired.
//! - **Blocks**: a node announces every block it appends (`Block {block}`); a peer that does
//!   not have it hands it to its machine, which appends it when it builds on its tip and both
//!   signatures verify. A peer that cannot append an announced block above its own tip asks
//!   `BlocksRequest {after: its tip height}` and gets `Blocks [..]` (at most
//!   [`super::host::BLOCKS_PER_ANSWER`] blocks, [`MAX_BLOCKS_BYTES`] bytes), asking again while
//!   answers are full and useful. Every new link starts with a blocks request, so a node that
//!   was down catches up the blocks whose signing rounds it missed.
//! - **Connections**: of two peers, the one with the smaller key dials, retrying with backoff
//!   (200 ms doubling to 5 s); the other accepts. Each peer has a queue of [`PEER_QUEUE`] frames;
//!   a peer that does not read is disconnected rather than let the queue grow. A peer has one
//!   connection: a newer one closes the older, and a connection the node lets go of is closed,
//!   never left open and unfed ([`super::peers`]).

use super::host::Host;
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tandem_codec::{Reader, Writer};
use tandem_consensus::chain::block::{BlockError, MAX_BLOCK_BYTES};
use tandem_consensus::chain::Block;
use tandem_consensus::StacksHeight;
use tandem_machine::DbId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The largest frame: a replication message at its cap plus framing.
pub const MAX_FRAME: usize = tandem_stackerdb::replication::MAX_MESSAGE_BYTES + 64;
pub const PROTOCOL_VERSION: u16 = 1;
pub const ANTI_ENTROPY_MS: u64 = 5_000;
/// Frames queued for one peer at most; a peer that falls this far behind is disconnected.
pub const PEER_QUEUE: usize = 4_096;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

const TAG_HELLO: u8 = 0x01;
const TAG_PROOF: u8 = 0x02;
const TAG_SYNC: u8 = 0x10;
const TAG_BLOCK: u8 = 0x20;
const TAG_BLOCKS_REQUEST: u8 = 0x21;
const TAG_BLOCKS: u8 = 0x22;
/// The most block bytes in one `Blocks` answer (well under [`MAX_FRAME`]).
pub const MAX_BLOCKS_BYTES: usize = 16 * 1024 * 1024;

/// A configured peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub address: SocketAddr,
    pub public_key: PublicKey,
}

#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte cap")]
    FrameTooLarge(usize),
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("peer key {0} is not in this node's peer list")]
    UnknownPeer(String),
    #[error("peer claims key {got} but {expected} was dialled")]
    WrongPeer { got: String, expected: String },
    #[error("peer's handshake proof does not verify for key {0}")]
    BadProof(String),
    #[error("peer speaks protocol version {0}, this node {PROTOCOL_VERSION}")]
    Version(u16),
    #[error("handshake timed out")]
    Timeout,
    #[error("link closed by this node: the peer did not read its frames, or connected again")]
    LinkDropped,
}

fn malformed(what: &'static str, e: impl std::fmt::Display) -> P2pError {
    P2pError::Malformed {
        what,
        reason: e.to_string(),
    }
}

async fn read_frame(s: &mut (impl AsyncReadExt + Unpin)) -> Result<Vec<u8>, P2pError> {
    let len = s.read_u32().await? as usize;
    if len > MAX_FRAME {
        return Err(P2pError::FrameTooLarge(len));
    }
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame(s: &mut (impl AsyncWriteExt + Unpin), payload: &[u8]) -> Result<(), P2pError> {
    let len = u32::try_from(payload.len()).map_err(|_| P2pError::FrameTooLarge(payload.len()))?;
    s.write_u32(len).await?;
    s.write_all(payload).await?;
    s.flush().await?;
    Ok(())
}

/// A `Sync` frame's payload.
pub fn sync_frame(db: DbId, message: &[u8]) -> Vec<u8> {
    let mut w = Writer::with_capacity(6 + message.len());
    w.u8(TAG_SYNC);
    db.encode_into(&mut w);
    w.bytes(message);
    w.into_bytes()
}

fn parse_sync(frame: &[u8]) -> Result<(DbId, &[u8]), P2pError> {
    let mut r = Reader::new(frame);
    r.expect_tag("frame", TAG_SYNC)
        .map_err(|e| malformed("sync frame", e))?;
    let db = DbId::decode_from(&mut r).map_err(|e| malformed("sync frame", e))?;
    Ok((db, r.rest()))
}

/// A block announcement.
pub fn block_frame(block: &Block) -> Result<Vec<u8>, BlockError> {
    let bytes = block.encode()?;
    let mut w = Writer::with_capacity(1 + bytes.len());
    w.u8(TAG_BLOCK);
    w.bytes(&bytes);
    Ok(w.into_bytes())
}

/// "Send me your blocks above `after`."
pub fn blocks_request_frame(after: StacksHeight) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(TAG_BLOCKS_REQUEST);
    w.u64(after.0);
    w.into_bytes()
}

/// An answer: blocks in order, as many as fit [`MAX_BLOCKS_BYTES`]; `None` when there are none.
fn blocks_frame(blocks: &[Block]) -> Option<Vec<u8>> {
    let mut encoded = Vec::new();
    let mut total = 0;
    for b in blocks {
        let Ok(bytes) = b.encode() else { break };
        total += bytes.len();
        if total > MAX_BLOCKS_BYTES {
            break;
        }
        encoded.push(bytes);
    }
    if encoded.is_empty() {
        return None;
    }
    let mut w = Writer::new();
    w.u8(TAG_BLOCKS);
    w.u16(encoded.len() as u16);
    for b in &encoded {
        w.u32(b.len() as u32);
        w.bytes(b);
    }
    Some(w.into_bytes())
}

/// A frame after the handshake.
#[derive(Debug)]
enum Frame<'a> {
    Sync(DbId, &'a [u8]),
    Block(Box<Block>),
    BlocksRequest(StacksHeight),
    Blocks(Vec<Block>),
}

fn parse_frame(frame: &[u8]) -> Result<Frame<'_>, P2pError> {
    let block = |b: &[u8]| Block::decode(b).map_err(|e| malformed("block", e));
    match frame.first() {
        Some(&TAG_SYNC) => parse_sync(frame).map(|(db, m)| Frame::Sync(db, m)),
        Some(&TAG_BLOCK) => Ok(Frame::Block(Box::new(block(&frame[1..])?))),
        Some(&TAG_BLOCKS_REQUEST) => {
            let mut r = Reader::new(&frame[1..]);
            let after = r
                .u64("after height")
                .and_then(|h| r.end().map(|_| h))
                .map_err(|e| malformed("blocks request", e))?;
            Ok(Frame::BlocksRequest(StacksHeight(after)))
        }
        Some(&TAG_BLOCKS) => {
            let mut r = Reader::new(&frame[1..]);
            let n = r
                .count_u16("blocks", super::host::BLOCKS_PER_ANSWER, 4)
                .map_err(|e| malformed("blocks", e))?;
            let mut blocks = Vec::with_capacity(n);
            for _ in 0..n {
                let bytes = r
                    .bytes_u32("block", MAX_BLOCK_BYTES)
                    .map_err(|e| malformed("blocks", e))?;
                blocks.push(block(bytes)?);
            }
            r.end().map_err(|e| malformed("blocks", e))?;
            Ok(Frame::Blocks(blocks))
        }
        Some(&tag) => Err(malformed("frame", format!("unknown tag {tag:#04x}"))),
        None => Err(malformed("frame", "empty")),
    }
}

fn proof_digest(challenge: &[u8; 32], key: &PublicKey) -> Message {
    let mut h = Sha256::new();
    h.update(b"tandem-p2p-v1");
    h.update(challenge);
    h.update(key.serialize());
    Message::from_digest(h.finalize().into())
}

/// Runs the handshake; returns the peer's key.
async fn handshake(
    s: &mut TcpStream,
    secret: &SecretKey,
    peers: &BTreeSet<[u8; 33]>,
    expected: Option<PublicKey>,
) -> Result<PublicKey, P2pError> {
    let secp = Secp256k1::new();
    let me = PublicKey::from_secret_key(&secp, secret);
    let challenge: [u8; 32] = {
        use secp256k1::rand::RngCore;
        let mut c = [0u8; 32];
        secp256k1::rand::rngs::OsRng.fill_bytes(&mut c);
        c
    };
    let mut w = Writer::new();
    w.u8(TAG_HELLO);
    w.u16(PROTOCOL_VERSION);
    w.bytes(&me.serialize());
    w.bytes(&challenge);
    write_frame(s, &w.into_bytes()).await?;
    let hello = read_frame(s).await?;
    let mut r = Reader::new(&hello);
    let parse =
        |r: &mut Reader<'_>| -> Result<(u16, [u8; 33], [u8; 32]), tandem_codec::DecodeError> {
            r.expect_tag("frame", TAG_HELLO)?;
            let v = r.u16("version")?;
            let k = r.array("public key")?;
            let c = r.array("challenge")?;
            r.end()?;
            Ok((v, k, c))
        };
    let (version, key, their_challenge) = parse(&mut r).map_err(|e| malformed("hello", e))?;
    if version != PROTOCOL_VERSION {
        return Err(P2pError::Version(version));
    }
    let theirs = PublicKey::from_slice(&key).map_err(|e| malformed("hello public key", e))?;
    match expected {
        Some(e) if e != theirs => {
            return Err(P2pError::WrongPeer {
                got: hex::encode(key),
                expected: hex::encode(e.serialize()),
            })
        }
        _ if !peers.contains(&key) => return Err(P2pError::UnknownPeer(hex::encode(key))),
        _ => {}
    }
    let sig = secp.sign_ecdsa(&proof_digest(&their_challenge, &me), secret);
    let mut w = Writer::new();
    w.u8(TAG_PROOF);
    w.bytes(&sig.serialize_compact());
    write_frame(s, &w.into_bytes()).await?;
    let proof = read_frame(s).await?;
    let mut r = Reader::new(&proof);
    let sig: [u8; 64] = (|| {
        r.expect_tag("frame", TAG_PROOF)?;
        let s = r.array("signature")?;
        r.end()?;
        Ok::<_, tandem_codec::DecodeError>(s)
    })()
    .map_err(|e| malformed("proof", e))?;
    let sig = Signature::from_compact(&sig).map_err(|e| malformed("proof signature", e))?;
    secp.verify_ecdsa(&proof_digest(&challenge, &theirs), &sig, &theirs)
        .map_err(|_| P2pError::BadProof(hex::encode(key)))?;
    Ok(theirs)
}

/// Serves one connection after its handshake until it fails or the node stops.
async fn serve_peer(
    host: Arc<Mutex<Host>>,
    stream: TcpStream,
    peer: PublicKey,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), P2pError> {
    // Small frames go out at once: Nagle's algorithm with delayed ACKs holds them ~40 ms.
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(PEER_QUEUE);
    let key = peer.serialize();
    let mut link = {
        let mut h = host.lock().map_err(|_| malformed("state", "poisoned"))?;
        h.add_peer(key, tx.clone())
    };
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if write_frame(&mut wr, &frame).await.is_err() {
                break;
            }
        }
    });
    let result = loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd) => f,
            _ = stop.changed() => break Ok(()),
            // The node let go of this link (the peer did not read, or connected again):
            // closing it makes the dialing side reconnect.
            _ = &mut link.cut => break Err(P2pError::LinkDropped),
        };
        let frame = match frame {
            Ok(f) => f,
            Err(e) => break Err(e),
        };
        let parsed = match parse_frame(&frame) {
            Ok(x) => x,
            Err(e) => break Err(e),
        };
        let Ok(mut h) = host.lock() else {
            break Err(malformed("state", "poisoned"));
        };
        let replies = match parsed {
            Frame::Sync(db, message) => match h.on_sync(db, message) {
                Ok(frames) => frames,
                Err(reason) => break Err(malformed("sync message", reason)),
            },
            Frame::Block(block) => {
                let height = block.header.height;
                // Not appendable and above this node's tip: it missed blocks; ask for them.
                if !h.on_block(*block) && height > h.stacks_tip_height() {
                    vec![blocks_request_frame(h.stacks_tip_height())]
                } else {
                    Vec::new()
                }
            }
            Frame::BlocksRequest(after) => {
                blocks_frame(&h.blocks_after(after)).into_iter().collect()
            }
            Frame::Blocks(blocks) => {
                let full = blocks.len() == super::host::BLOCKS_PER_ANSWER;
                let mut last = false;
                for b in blocks {
                    last = h.on_block(b);
                }
                // A full answer whose last block was appended: there may be more.
                if full && last {
                    vec![blocks_request_frame(h.stacks_tip_height())]
                } else {
                    Vec::new()
                }
            }
        };
        drop(h);
        for f in replies {
            if tx.try_send(f).is_err() {
                break;
            }
        }
    };
    if let Ok(mut h) = host.lock() {
        h.remove_peer(&key, link.id);
    }
    drop(tx);
    writer.abort();
    result
}

/// Accepts peers on `listener` and dials the configured peers whose key is larger than this
/// node's; runs until `stop`.
pub async fn run(
    host: Arc<Mutex<Host>>,
    listener: TcpListener,
    secret: SecretKey,
    peers: Vec<Peer>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let me = PublicKey::from_secret_key(&Secp256k1::new(), &secret).serialize();
    let allowed: BTreeSet<[u8; 33]> = peers.iter().map(|p| p.public_key.serialize()).collect();
    for p in peers.iter().filter(|p| me < p.public_key.serialize()) {
        tokio::spawn(dial(
            host.clone(),
            p.clone(),
            secret,
            allowed.clone(),
            stop.clone(),
        ));
    }
    tokio::spawn(anti_entropy(host.clone(), stop.clone()));
    let mut stop_accept = stop.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop_accept.changed() => return,
        };
        let (mut stream, from) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "p2p accept");
                continue;
            }
        };
        let (host, allowed, stop) = (host.clone(), allowed.clone(), stop.clone());
        tokio::spawn(async move {
            let shook = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                handshake(&mut stream, &secret, &allowed, None),
            )
            .await;
            match shook {
                Ok(Ok(peer)) => {
                    tracing::info!(%from, peer = %hex::encode(peer.serialize()), "peer connected (inbound)");
                    if let Err(e) = serve_peer(host, stream, peer, stop).await {
                        tracing::warn!(%from, error = %e, "peer dropped");
                    }
                }
                Ok(Err(e)) => tracing::warn!(%from, error = %e, "peer refused at handshake"),
                Err(_) => {
                    tracing::warn!(%from, error = %P2pError::Timeout, "peer refused at handshake")
                }
            }
        });
    }
}

async fn dial(
    host: Arc<Mutex<Host>>,
    peer: Peer,
    secret: SecretKey,
    allowed: BTreeSet<[u8; 33]>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if *stop.borrow() {
            return;
        }
        match TcpStream::connect(peer.address).await {
            Ok(mut stream) => {
                let shook = tokio::time::timeout(
                    HANDSHAKE_TIMEOUT,
                    handshake(&mut stream, &secret, &allowed, Some(peer.public_key)),
                )
                .await;
                match shook {
                    Ok(Ok(key)) => {
                        backoff = Duration::from_millis(200);
                        tracing::info!(address = %peer.address, "peer connected (outbound)");
                        if let Err(e) = serve_peer(host.clone(), stream, key, stop.clone()).await {
                            tracing::warn!(address = %peer.address, error = %e, "peer dropped");
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(address = %peer.address, error = %e, "handshake failed")
                    }
                    Err(_) => tracing::warn!(address = %peer.address, "handshake timed out"),
                }
            }
            Err(e) => tracing::debug!(address = %peer.address, error = %e, "peer not reachable"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Every [`ANTI_ENTROPY_MS`], asks every peer for its clock of every DB this node holds.
async fn anti_entropy(host: Arc<Mutex<Host>>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Ok(mut h) = host.lock() {
            h.request_clocks();
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ANTI_ENTROPY_MS)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tandem_consensus::RewardCycle;

    #[test]
    fn sync_frames_round_trip_and_refuse_garbage() {
        let f = sync_frame(DbId::Stackers(RewardCycle(3)), &[1, 2, 3]);
        let (db, msg) = parse_sync(&f).unwrap();
        assert_eq!(db, DbId::Stackers(RewardCycle(3)));
        assert_eq!(msg, &[1, 2, 3]);
        assert!(matches!(
            parse_sync(&[0x11]),
            Err(P2pError::Malformed { .. })
        ));
        assert!(matches!(
            parse_sync(&[0x10, 7, 0, 0, 0, 0]),
            Err(P2pError::Malformed { .. })
        ));
        assert!(matches!(
            parse_sync(&[0x10, 0]),
            Err(P2pError::Malformed { .. })
        ));
    }

    #[test]
    fn block_frames_refuse_garbage_by_name() {
        let e = parse_frame(&[TAG_BLOCK, 1, 2]).unwrap_err().to_string();
        assert!(e.starts_with("malformed block:"), "{e}");
        let e = parse_frame(&[TAG_BLOCKS_REQUEST, 1])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("malformed blocks request:"), "{e}");
        let e = parse_frame(&[TAG_BLOCKS, 0xff, 0xff])
            .unwrap_err()
            .to_string();
        assert!(e.contains("exceeds the limit"), "{e}");
        let e = parse_frame(&[0x99]).unwrap_err().to_string();
        assert_eq!(e, "malformed frame: unknown tag 0x99");
        assert!(parse_frame(&[]).is_err());
        let f = blocks_request_frame(StacksHeight(7));
        assert!(matches!(
            parse_frame(&f).unwrap(),
            Frame::BlocksRequest(StacksHeight(7))
        ));
        assert!(blocks_frame(&[]).is_none());
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_before_reading() {
        let mut data: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0];
        assert!(matches!(
            read_frame(&mut data).await,
            Err(P2pError::FrameTooLarge(_))
        ));
    }
}
