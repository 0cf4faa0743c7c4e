//! Helpers shared by the integration tests.

use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use std::collections::BTreeMap;
use tandem_wfrost::{AccountableSignature, GroupKey, KeyShare, PartyId};

/// An accountable signature by the key shares at `signers` (indexes into `keys`), with fixed
/// nonces.
pub fn sign_by(
    group: &GroupKey,
    keys: &[KeyShare],
    signers: &[usize],
    message: &[u8],
) -> AccountableSignature {
    let by_party: BTreeMap<PartyId, KeyShare> = keys.iter().map(|k| (k.party, k.clone())).collect();
    let parties: Vec<PartyId> = signers.iter().map(|&i| keys[i].party).collect();
    let mut r = ChaCha12Rng::from_seed([42; 32]);
    tandem_wfrost::testkit::sign(group, &by_party, &parties, message, &mut r)
        .expect("the test's signers hold key shares of the group")
}
