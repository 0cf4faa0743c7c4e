//! Shares travel encrypted to the recipient party's key: static ECDH on secp256k1, the shared
//! x-coordinate hashed with the run's context and both party ids into a ChaCha20-Poly1305 key.
//! Each key encrypts exactly one message (one dealer, one recipient, one run), so a fixed
//! nonce is safe.

use super::config::PartyId;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use sha2::{Digest, Sha256};

fn key(
    secret: &Scalar,
    peer: &AffinePoint,
    context: &[u8; 32],
    dealer: PartyId,
    recipient: PartyId,
) -> (Key, Vec<u8>) {
    let shared = (ProjectivePoint::from(*peer) * secret).to_affine();
    let x = shared.to_encoded_point(true);
    let mut aad = Vec::with_capacity(36);
    aad.extend_from_slice(context);
    aad.extend_from_slice(&dealer.0.to_be_bytes());
    aad.extend_from_slice(&recipient.0.to_be_bytes());
    let mut h = Sha256::new();
    h.update(b"tandem-wfrost-share-key");
    h.update(&aad);
    h.update(x.as_bytes());
    (*Key::from_slice(&h.finalize()), aad)
}

pub fn seal(
    secret: &Scalar,
    peer: &AffinePoint,
    context: &[u8; 32],
    dealer: PartyId,
    recipient: PartyId,
    plain: &[u8],
) -> Vec<u8> {
    let (k, aad) = key(secret, peer, context, dealer, recipient);
    // Encryption with a valid key and nonce cannot fail.
    ChaCha20Poly1305::new(&k)
        .encrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: plain,
                aad: &aad,
            },
        )
        .unwrap_or_default()
}

pub fn open(
    secret: &Scalar,
    peer: &AffinePoint,
    context: &[u8; 32],
    dealer: PartyId,
    recipient: PartyId,
    sealed: &[u8],
) -> Option<Vec<u8>> {
    let (k, aad) = key(secret, peer, context, dealer, recipient);
    ChaCha20Poly1305::new(&k)
        .decrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .ok()
}
