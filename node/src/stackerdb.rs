//! `tandem stackerdb sign`: a chunk signature as libstackerdb makes it.

use crate::error::{arg, CliError};
use crate::output::Report;
use serde::Serialize;
use tandem_consensus::{SlotId, SlotVersion};
use tandem_stackerdb::chunk::parse_private_key;
use tandem_stackerdb::ChunkData;

#[derive(Serialize)]
pub struct SignReport {
    slot_id: u32,
    slot_version: u32,
    data_hash: String,
    digest: String,
    signature: String,
    public_key: String,
}

pub fn sign(
    private_key: &str,
    slot: u32,
    version: u32,
    data_hex: &str,
) -> Result<SignReport, CliError> {
    let key = parse_private_key(private_key).map_err(|e| arg(format!("--private-key: {e}")))?;
    let data = hex::decode(data_hex.trim())
        .map_err(|e| arg(format!("--data-hex: not valid hex ({e})")))?;
    let chunk = ChunkData::sign(&key, SlotId(slot), SlotVersion(version), data);
    let public = secp256k1::PublicKey::from_secret_key(&secp256k1::Secp256k1::signing_only(), &key);
    Ok(SignReport {
        slot_id: slot,
        slot_version: version,
        data_hash: chunk.data_hash().to_hex(),
        digest: chunk.digest().to_hex(),
        signature: chunk.sig.to_hex(),
        public_key: hex::encode(public.serialize()),
    })
}

impl Report for SignReport {
    fn text(&self) -> String {
        format!(
            "slot        {}\nversion     {}\ndata hash   {}\ndigest      {}\nsignature   {}\npublic key  {}\n",
            self.slot_id, self.slot_version, self.data_hash, self.digest, self.signature, self.public_key
        )
    }
}
