//! Shares travel encrypted to the recipient party's key: static ECDH on secp256k1, the shared
//! x-coordinate hashed with the run's context and both party ids into a ChaCha20-Poly1305 key.
//! Each key encrypts exactly one message (one dealer, one recipient, one run), so a fixed
//! nonce is safe.

use super::config::{compress, PartyId};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use k256::{AffinePoint, ProjectivePoint, Scalar};
use sha2::{Digest, Sha256};

/// The static Diffie-Hellman value of two parties: the compressed `secret * peer`. It is the
/// same from either side, so a party that computed it while dealing reuses it to open what
/// that peer dealt to it.
pub fn shared_point(secret: &Scalar, peer: &AffinePoint) -> [u8; 33] {
    shared_points(secret, std::slice::from_ref(peer))
        .pop()
        .unwrap_or([0; 33])
}

/// [`shared_point`] with each of `peers`, their affine forms found with one shared inversion.
pub fn shared_points(secret: &Scalar, peers: &[AffinePoint]) -> Vec<[u8; 33]> {
    let products: Vec<ProjectivePoint> = peers
        .iter()
        .map(|p| ProjectivePoint::from(*p) * secret)
        .collect();
    // The identity (a zero secret, never drawn) encodes as all zero.
    super::msm::to_affine_batch(&products)
        .iter()
        .map(compress)
        .collect()
}

fn key(
    shared: &[u8; 33],
    context: &[u8; 32],
    dealer: PartyId,
    recipient: PartyId,
) -> (Key, Vec<u8>) {
    let mut aad = Vec::with_capacity(36);
    aad.extend_from_slice(context);
    aad.extend_from_slice(&dealer.0.to_be_bytes());
    aad.extend_from_slice(&recipient.0.to_be_bytes());
    let mut h = Sha256::new();
    h.update(b"tandem-wfrost-share-key");
    h.update(&aad);
    h.update(shared);
    (*Key::from_slice(&h.finalize()), aad)
}

/// Encrypts `plain` from `dealer` to `recipient` under their [`shared_point`].
pub fn seal(
    shared: &[u8; 33],
    context: &[u8; 32],
    dealer: PartyId,
    recipient: PartyId,
    plain: &[u8],
) -> Vec<u8> {
    let (k, aad) = key(shared, context, dealer, recipient);
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

/// Decrypts what `dealer` sealed to `recipient` under their [`shared_point`]; `None` if it
/// was not sealed under that key, for these parties and this context.
pub fn open(
    shared: &[u8; 33],
    context: &[u8; 32],
    dealer: PartyId,
    recipient: PartyId,
    sealed: &[u8],
) -> Option<Vec<u8>> {
    let (k, aad) = key(shared, context, dealer, recipient);
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    use k256::elliptic_curve::Field;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn the_shared_point_is_the_same_from_both_sides_and_in_a_batch() {
        let mut rng = ChaCha20Rng::seed_from_u64(21);
        let secrets: Vec<Scalar> = (0..5).map(|_| Scalar::random(&mut rng)).collect();
        let keys: Vec<AffinePoint> = secrets
            .iter()
            .map(|s| (ProjectivePoint::GENERATOR * s).to_affine())
            .collect();
        let batch = shared_points(&secrets[0], &keys[1..]);
        for (j, dh) in (1..5).zip(&batch) {
            assert_eq!(*dh, shared_point(&secrets[j], &keys[0]));
            let expected = (ProjectivePoint::from(keys[j]) * secrets[0])
                .to_affine()
                .to_encoded_point(true);
            assert_eq!(dh[..], *expected.as_bytes());
        }
        // Sealed with one side's value, opened with the other's; another pair's value fails.
        let ctx = [9u8; 32];
        let sealed = seal(&batch[0], &ctx, PartyId(1), PartyId(2), b"shares");
        let theirs = shared_point(&secrets[1], &keys[0]);
        assert_eq!(
            open(&theirs, &ctx, PartyId(1), PartyId(2), &sealed).unwrap(),
            b"shares"
        );
        assert!(open(&batch[1], &ctx, PartyId(1), PartyId(2), &sealed).is_none());
        assert!(open(&theirs, &ctx, PartyId(2), PartyId(1), &sealed).is_none());
    }
}
