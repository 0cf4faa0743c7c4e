//! The node's journal on disk (sled, ADR 0019): every input the host hands its machine, in
//! order, with its time, plus the identity it was written under and the seed of the machine's
//! RNG. A restart replays it; nothing else is stored, because everything else (burn index,
//! chainstate, blocks, key shares, Stacker DB replicas, wallet) is a function of it.
//!
//! Crash safety: sled's log is checksummed, so a `kill -9` loses at most the records appended
//! since the last [`Journal::flush`], and the host flushes before anything derived from a record
//! leaves the process (a chunk pushed to a peer, a transaction sent, an HTTP acknowledgement).
//! A lost record was therefore never seen by anyone, and replay cannot contradict what others
//! saw: the RNG is replayed too, so no FROST nonce is ever drawn twice for two different
//! messages.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tandem_machine::Record;

const FORMAT: &[u8] = b"tandem-journal-1";

/// Why a journal cannot be opened or read; each names the directory or the record.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("working_dir {dir}: cannot open the journal: {source}")]
    Open { dir: String, source: sled::Error },
    #[error("working_dir {dir}: holds the journal of node key {found}, but this config's seed is node key {expected}; use another working_dir")]
    OtherNode {
        dir: String,
        found: String,
        expected: String,
    },
    #[error("working_dir {dir}: its journal was written with different protocol settings (network parameters, timing, genesis, producer or burn chain); use a fresh working_dir")]
    OtherConfig { dir: String },
    #[error("working_dir {dir}: not a tandem journal of this version ({what})")]
    Format { dir: String, what: String },
    #[error("journal record {index}: {reason}")]
    Record { index: u64, reason: String },
    #[error("journal write: {0}")]
    Write(String),
}

pub struct Journal {
    /// Kept for error messages; `None` for a temporary journal.
    dir: Option<PathBuf>,
    db: sled::Db,
    records: sled::Tree,
    next: u64,
    dirty: bool,
    seed: [u8; 32],
}

/// What a journal is written under: the node's key and a fingerprint of every setting that
/// changes what the machine does with an input.
pub struct Identity {
    pub node_key: [u8; 33],
    pub settings: String,
}

impl Journal {
    /// Opens the journal in `dir` (created if needed) or, without one, a temporary journal
    /// that sled deletes at exit. A new journal gets `fresh_seed` as its RNG seed; an existing
    /// one keeps its own.
    pub fn open(
        dir: Option<&Path>,
        identity: &Identity,
        fresh_seed: [u8; 32],
    ) -> Result<Journal, JournalError> {
        let name = dir.map_or_else(|| "(temporary)".to_string(), |d| d.display().to_string());
        let open_err = |source| JournalError::Open {
            dir: name.clone(),
            source,
        };
        let db = match dir {
            Some(d) => sled::Config::new().path(d.join("journal")).open(),
            None => sled::Config::new().temporary(true).open(),
        }
        .map_err(open_err)?;
        let meta = db.open_tree("meta").map_err(open_err)?;
        let records = db.open_tree("records").map_err(open_err)?;
        let fingerprint: [u8; 32] = Sha256::digest(identity.settings.as_bytes()).into();
        let get = |k: &str| meta.get(k).map_err(open_err);
        let seed = match get("format")? {
            None => {
                if !records.is_empty() {
                    return Err(JournalError::Format {
                        dir: name,
                        what: "records without a header".into(),
                    });
                }
                meta.insert("node_key", &identity.node_key[..])
                    .and_then(|_| meta.insert("settings", &fingerprint[..]))
                    .and_then(|_| meta.insert("rng_seed", &fresh_seed[..]))
                    .and_then(|_| meta.insert("format", FORMAT))
                    .map_err(open_err)?;
                db.flush().map_err(open_err)?;
                fresh_seed
            }
            Some(f) if f.as_ref() != FORMAT => {
                return Err(JournalError::Format {
                    dir: name,
                    what: format!("format {:?}", String::from_utf8_lossy(&f)),
                })
            }
            Some(_) => {
                let key = get("node_key")?.unwrap_or_default();
                if key.as_ref() != identity.node_key {
                    return Err(JournalError::OtherNode {
                        dir: name,
                        found: hex::encode(key),
                        expected: hex::encode(identity.node_key),
                    });
                }
                if get("settings")?.as_deref() != Some(&fingerprint[..]) {
                    return Err(JournalError::OtherConfig { dir: name });
                }
                get("rng_seed")?
                    .and_then(|s| <[u8; 32]>::try_from(s.as_ref()).ok())
                    .ok_or_else(|| JournalError::Format {
                        dir: name.clone(),
                        what: "no RNG seed".into(),
                    })?
            }
        };
        let next = match records.last().map_err(open_err)? {
            Some((k, _)) => index_of(&k).map_or(0, |i| i + 1),
            None => 0,
        };
        Ok(Journal {
            dir: dir.map(Path::to_path_buf),
            db,
            records,
            next,
            dirty: false,
            seed,
        })
    }

    pub fn seed(&self) -> [u8; 32] {
        self.seed
    }

    pub fn len(&self) -> u64 {
        self.next
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Appends a record (durable at the next flush).
    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let bytes = record
            .encode()
            .map_err(|e| JournalError::Write(e.to_string()))?;
        self.records
            .insert(self.next.to_be_bytes(), bytes)
            .map_err(|e| JournalError::Write(e.to_string()))?;
        self.next += 1;
        self.dirty = true;
        Ok(())
    }

    /// Makes every appended record durable (fsync); cheap when nothing was appended.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        if self.dirty {
            self.db
                .flush()
                .map_err(|e| JournalError::Write(e.to_string()))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Every record, in order. A record that does not decode stops the replay with its index.
    pub fn records(&self) -> impl Iterator<Item = Result<Record, JournalError>> + '_ {
        self.records.iter().map(|kv| {
            let (k, v) = kv.map_err(|e| JournalError::Record {
                index: 0,
                reason: e.to_string(),
            })?;
            let index = index_of(&k).unwrap_or(u64::MAX);
            Record::decode(&v).map_err(|e| JournalError::Record {
                index,
                reason: e.to_string(),
            })
        })
    }
}

fn index_of(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tandem_consensus::BurnHeight;
    use tandem_machine::Entry;

    fn identity(key: u8, settings: &str) -> Identity {
        Identity {
            node_key: [key; 33],
            settings: settings.into(),
        }
    }

    fn rollback(n: u32) -> Record {
        Record {
            now_ms: u64::from(n),
            entry: Entry::Rollback {
                height: BurnHeight(n),
            },
        }
    }

    #[test]
    fn records_survive_a_reopen_with_the_seed_and_refuse_another_identity() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut j = Journal::open(Some(dir.path()), &identity(2, "a"), [7; 32]).unwrap();
            assert_eq!(j.seed(), [7; 32]);
            j.append(&rollback(1)).unwrap();
            j.append(&rollback(2)).unwrap();
            j.flush().unwrap();
        }
        let j = Journal::open(Some(dir.path()), &identity(2, "a"), [9; 32]).unwrap();
        assert_eq!(j.seed(), [7; 32], "the first seed is kept");
        assert_eq!(j.len(), 2);
        let got: Vec<Record> = j.records().map(|r| r.unwrap()).collect();
        assert_eq!(got, vec![rollback(1), rollback(2)]);
        drop(j);
        let e = Journal::open(Some(dir.path()), &identity(3, "a"), [9; 32])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("holds the journal of node key 0202"), "{e}");
        let e = Journal::open(Some(dir.path()), &identity(2, "b"), [9; 32])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("different protocol settings"), "{e}");
    }

    #[test]
    fn a_record_that_does_not_decode_is_named_by_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(Some(dir.path()), &identity(2, "a"), [7; 32]).unwrap();
        j.append(&rollback(1)).unwrap();
        j.records
            .insert(1u64.to_be_bytes(), &[1, 2, 3][..])
            .unwrap();
        let got: Vec<_> = j.records().collect();
        assert!(got[0].is_ok());
        let e = got[1].as_ref().err().unwrap().to_string();
        assert!(e.starts_with("journal record 1: input ends inside"), "{e}");
    }

    #[test]
    fn a_temporary_journal_starts_empty() {
        let j = Journal::open(None, &identity(2, "a"), [1; 32]).unwrap();
        assert_eq!((j.len(), j.seed()), (0, [1; 32]));
    }
}
