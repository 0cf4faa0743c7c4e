//! What a writer keeps in a Stacker DB slot: its live messages, not only the last one.
//!
//! A slot holds one chunk, and a write replaces it. A reader that polls, or a replica that
//! learns of two writes through one anti-entropy exchange, sees only the latest version. If each
//! write carried one message, a vote or a prepare overwritten before a reader saw it would be
//! lost. So a slot carries the writer's current state for the round as a short log: every
//! message the writer still stands behind, each tagged with the slot version that first carried
//! it. A reader processes the entries tagged above the last version it processed from that
//! slot, whatever versions it never saw; the writer drops entries that a newer context makes
//! moot (votes of an earlier election round, messages of an earlier height or key-generation
//! attempt). Versions only grow (the write rules refuse anything else), so the tags stay
//! ordered even across a writer's restart. docs/protocol.md section 9 ("Slot contents").

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use tandem_codec::{Decode, DecodeError, Reader, Writer};
use tandem_consensus::engine::MAX_MESSAGE_BYTES;
use tandem_consensus::{Attempt, ElectionRound, SlotId, SlotVersion, StacksHeight};
use tandem_stackerdb::policy::PRODUCER_MAX_CHUNK;

use crate::layout::DbId;

/// Tag of a slot log (room for other chunk kinds later).
pub const SLOT_LOG_TAG: u8 = 0x40;
/// At most this many live entries per slot; older ones go first.
pub const MAX_ENTRIES: usize = 32;

/// One message in a slot, with the slot version that first carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub written_at: SlotVersion,
    pub msg: Vec<u8>,
}

/// A slot's contents: `40 count u16 count x (written_at u32, len u32, message)`, entries in
/// non-decreasing `written_at` order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotLog {
    pub entries: Vec<Entry>,
}

impl SlotLog {
    pub fn encode(&self) -> Result<Vec<u8>, tandem_codec::EncodeError> {
        let mut w =
            Writer::with_capacity(3 + self.entries.iter().map(|e| 8 + e.msg.len()).sum::<usize>());
        w.u8(SLOT_LOG_TAG);
        w.count_u16("entries", self.entries.len())?;
        for e in &self.entries {
            w.u32(e.written_at.0);
            w.bytes_u32("entry", &e.msg)?;
        }
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<SlotLog, DecodeError> {
        SlotLog::decode_exact(bytes)
    }
}

impl Decode for SlotLog {
    const MAX_BYTES: usize = PRODUCER_MAX_CHUNK;
    type Error = DecodeError;

    fn decode_from(r: &mut Reader<'_>) -> Result<SlotLog, DecodeError> {
        r.expect_tag("slot log", SLOT_LOG_TAG)?;
        let n = r.count_u16("entries", MAX_ENTRIES, 8)?;
        let mut entries = Vec::with_capacity(n);
        let mut last = SlotVersion(0);
        for _ in 0..n {
            let written_at = SlotVersion(r.u32("written_at")?);
            if written_at < last {
                return Err(DecodeError::Invalid {
                    field: "written_at",
                    reason: "an entry is older than the one before it",
                });
            }
            last = written_at;
            let msg = r.bytes_u32("entry", MAX_MESSAGE_BYTES)?.to_vec();
            entries.push(Entry { written_at, msg });
        }
        Ok(SlotLog { entries })
    }
}

/// What an entry is about: a newer context of the same kind makes older entries moot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    /// Leader-election votes and vote requests of one round.
    Election(ElectionRound),
    /// The two-phase commit and signing of one height, candidates, signed and complete blocks.
    Height(StacksHeight),
    /// One key-generation attempt.
    Keygen(Attempt),
}

impl Context {
    /// Does `self` make an entry of context `old` moot?
    pub fn supersedes(&self, old: &Context) -> bool {
        match (self, old) {
            (Context::Election(a), Context::Election(b)) => a > b,
            (Context::Height(a), Context::Height(b)) => a > b,
            (Context::Keygen(a), Context::Keygen(b)) => a > b,
            _ => false,
        }
    }
}

/// The writer's side of one slot.
#[derive(Clone, Debug, Default)]
struct Outgoing {
    version: SlotVersion,
    entries: Vec<(Context, Entry)>,
}

/// A writer's slots: what each holds, and its next version.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    slots: BTreeMap<(DbId, SlotId), Outgoing>,
}

impl Outbox {
    /// Adds messages to a slot (one write) and returns the new version and the contents.
    pub fn write(
        &mut self,
        db: DbId,
        slot: SlotId,
        msgs: Vec<(Context, Vec<u8>)>,
        max_bytes: usize,
    ) -> (SlotVersion, SlotLog) {
        let out = self.slots.entry((db, slot)).or_default();
        out.version = out.version.next();
        let version = out.version;
        for (ctx, msg) in msgs {
            out.entries.retain(|(old, _)| !ctx.supersedes(old));
            out.entries.push((
                ctx,
                Entry {
                    written_at: version,
                    msg,
                },
            ));
        }
        // Oldest first out when the log is over its caps (the newest entry always stays).
        let size =
            |e: &[(Context, Entry)]| 3 + e.iter().map(|(_, x)| 8 + x.msg.len()).sum::<usize>();
        while out.entries.len() > 1
            && (out.entries.len() > MAX_ENTRIES || size(&out.entries) > max_bytes)
        {
            out.entries.remove(0);
        }
        let log = SlotLog {
            entries: out.entries.iter().map(|(_, e)| e.clone()).collect(),
        };
        (version, log)
    }

    /// Forgets a DB's slots (the DB was closed).
    pub fn close(&mut self, db: DbId) {
        self.slots.retain(|(d, _), _| *d != db);
    }
}

/// A reader's side: per slot, the last version it processed.
#[derive(Clone, Debug, Default)]
pub struct Inbox {
    seen: BTreeMap<(DbId, SlotId), Seen>,
}

/// What a reader processed from one slot: the newest version, the version before it, and the
/// messages it processed from chunks of the newest version (by SHA-256, which this machine
/// kind computes in hardware: a dedup key, not a protocol hash).
#[derive(Clone, Debug, Default)]
struct Seen {
    last: SlotVersion,
    from: SlotVersion,
    processed: std::collections::BTreeSet<[u8; 32]>,
}

impl Inbox {
    /// The entries of `log` (carried by a chunk of `version`) not processed yet, and marks
    /// them processed. A second chunk of the version already processed (a writer that
    /// equivocated at one version, replaced in the replica by the total order of ADR 0005)
    /// yields its entries of that version that the first did not carry, so no reader misses
    /// a message because it saw the other chunk first.
    pub fn fresh(
        &mut self,
        db: DbId,
        slot: SlotId,
        version: SlotVersion,
        log: SlotLog,
    ) -> Vec<Vec<u8>> {
        let seen = self.seen.entry((db, slot)).or_default();
        if version < seen.last || version == SlotVersion(0) {
            return Vec::new();
        }
        if version > seen.last {
            seen.from = seen.last;
            seen.last = version;
            seen.processed.clear();
        }
        let from = seen.from;
        let mut out = Vec::new();
        for e in log.entries {
            if e.written_at > from
                && e.written_at <= version
                && seen.processed.insert(Sha256::digest(&e.msg).into())
            {
                out.push(e.msg);
            }
        }
        out
    }

    pub fn close(&mut self, db: DbId) {
        self.seen.retain(|(d, _), _| *d != db);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;
    use tandem_consensus::Term;

    const DB: DbId = DbId::Producers(Term(2));

    fn h(n: u64) -> Context {
        Context::Height(StacksHeight(n))
    }

    #[test]
    fn encoding_is_pinned_and_errors_name_the_field() {
        let log = SlotLog {
            entries: vec![
                Entry {
                    written_at: SlotVersion(1),
                    msg: vec![0xaa],
                },
                Entry {
                    written_at: SlotVersion(3),
                    msg: vec![],
                },
            ],
        };
        let bytes = log.encode().unwrap();
        assert_eq!(
            hex::encode(&bytes),
            "4000020000000100000001aa0000000300000000"
        );
        assert_eq!(SlotLog::decode(&bytes).unwrap(), log);
        assert_eq!(
            SlotLog::decode(&[0x41, 0, 0]),
            Err(DecodeError::Tag {
                field: "slot log",
                tag: 0x41
            })
        );
        let mut out_of_order = bytes.clone();
        out_of_order[6] = 9; // first entry written at 9, second at 3
        assert_eq!(
            SlotLog::decode(&out_of_order),
            Err(DecodeError::Invalid {
                field: "written_at",
                reason: "an entry is older than the one before it"
            })
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(SlotLog::decode(&trailing), Err(DecodeError::Trailing(1)));
        let too_many = [&[0x40u8, 0, 33][..], &[0u8; 33 * 8][..]].concat();
        assert!(matches!(
            SlotLog::decode(&too_many),
            Err(DecodeError::TooMany {
                field: "entries",
                ..
            })
        ));
    }

    /// Step table: what a writer keeps as it writes (contexts make older entries moot).
    #[test]
    fn the_writer_keeps_live_entries_only() {
        let mut out = Outbox::default();
        let slot = SlotId(100);
        // (what, messages written, version of the write, live entries as (written_at, first byte))
        type Step = (&'static str, Vec<(Context, Vec<u8>)>, u32, Vec<(u32, u8)>);
        let steps: Vec<Step> = vec![
            (
                "a vote",
                vec![(Context::Election(ElectionRound(0)), vec![1])],
                1,
                vec![(1, 1)],
            ),
            (
                "a prepare at height 1 keeps the vote",
                vec![(h(1), vec![2])],
                2,
                vec![(1, 1), (2, 2)],
            ),
            (
                "two messages in one write share a version",
                vec![(h(1), vec![3]), (h(1), vec![4])],
                3,
                vec![(1, 1), (2, 2), (3, 3), (3, 4)],
            ),
            (
                "height 2 drops height 1",
                vec![(h(2), vec![5])],
                4,
                vec![(1, 1), (4, 5)],
            ),
            (
                "a later election round drops the earlier vote",
                vec![(Context::Election(ElectionRound(1)), vec![6])],
                5,
                vec![(4, 5), (5, 6)],
            ),
        ];
        for (desc, msgs, version, expected) in steps {
            let (v, log) = out.write(DB, slot, msgs, 1 << 20);
            assert_eq!(v, SlotVersion(version), "{desc}");
            let got: Vec<(u32, u8)> = log
                .entries
                .iter()
                .map(|e| (e.written_at.0, e.msg[0]))
                .collect();
            assert_eq!(got, expected, "{desc}");
        }
    }

    #[test]
    fn caps_drop_the_oldest_entries_first() {
        let mut out = Outbox::default();
        for i in 0..(MAX_ENTRIES as u8 + 5) {
            out.write(DB, SlotId(0), vec![(h(1), vec![i])], 1 << 20);
        }
        let (_, log) = out.write(DB, SlotId(0), vec![(h(1), vec![0xff])], 1 << 20);
        assert_eq!(log.entries.len(), MAX_ENTRIES);
        assert_eq!(log.entries.last().unwrap().msg, vec![0xff]);
        // A byte cap keeps at least the newest entry.
        let (_, log) = out.write(DB, SlotId(0), vec![(h(1), vec![7; 100])], 50);
        assert_eq!(log.entries.len(), 1);
    }

    proptest! {
        /// A reader that sees any subsequence of a slot's versions (always the latest last, as
        /// a replica ends up) processes every message whose context stayed live exactly once,
        /// in write order.
        #[test]
        fn a_reader_that_misses_versions_loses_no_live_message(
            writes in proptest::collection::vec((0u64..3, 1usize..3), 1..20),
            seen in proptest::collection::vec(any::<bool>(), 20),
        ) {
            let mut out = Outbox::default();
            let mut inbox = Inbox::default();
            let mut processed: Vec<u8> = Vec::new();
            let mut written: Vec<(u64, u8)> = Vec::new();
            let mut height = 0u64;
            let mut n = 0u8;
            for (i, (step, count)) in writes.iter().enumerate() {
                height += step;
                let msgs: Vec<(Context, Vec<u8>)> = (0..*count)
                    .map(|_| {
                        n = n.wrapping_add(1);
                        written.push((height, n));
                        (h(height), vec![n])
                    })
                    .collect();
                let (v, log) = out.write(DB, SlotId(0), msgs, 1 << 20);
                let last = i + 1 == writes.len();
                if seen[i] || last {
                    let bytes = log.encode().unwrap();
                    let log = SlotLog::decode(&bytes).unwrap();
                    for m in inbox.fresh(DB, SlotId(0), v, log) {
                        processed.push(m[0]);
                    }
                }
            }
            // Everything of the final height was processed, in order, once.
            let final_height = written.last().map(|w| w.0).unwrap();
            let live: Vec<u8> = written.iter().filter(|w| w.0 == final_height).map(|w| w.1).collect();
            let tail: Vec<u8> = processed.iter().rev().take(live.len()).rev().copied().collect();
            prop_assert_eq!(tail, live);
            let mut dedup = processed.clone();
            dedup.sort_unstable();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), processed.len());
        }
    }

    fn log_of(entries: &[(u32, u8)]) -> SlotLog {
        SlotLog {
            entries: entries
                .iter()
                .map(|(v, m)| Entry {
                    written_at: SlotVersion(*v),
                    msg: vec![*m],
                })
                .collect(),
        }
    }

    /// A writer that equivocates at one version: whichever chunk a reader sees first, the
    /// second one yields the messages of that version it did not carry, and a repeat yields
    /// nothing; older versions and entries from before the last version stay closed.
    #[test]
    fn a_second_chunk_at_one_version_yields_only_what_the_first_lacked() {
        let mut inbox = Inbox::default();
        let s = SlotId(1);
        assert_eq!(
            inbox.fresh(DB, s, SlotVersion(1), log_of(&[(1, 0xa)])),
            vec![vec![0xa]]
        );
        // Version 2, first the chunk without its newest entry, then the one with it.
        assert_eq!(
            inbox.fresh(DB, s, SlotVersion(2), log_of(&[(1, 0xa), (2, 0xb)])),
            vec![vec![0xb]]
        );
        assert_eq!(
            inbox.fresh(
                DB,
                s,
                SlotVersion(2),
                log_of(&[(1, 0xa), (2, 0xb), (2, 0xc)])
            ),
            vec![vec![0xc]]
        );
        assert!(inbox
            .fresh(
                DB,
                s,
                SlotVersion(2),
                log_of(&[(1, 0xa), (2, 0xb), (2, 0xc)])
            )
            .is_empty());
        // An entry tagged with the version before cannot be slipped in at this version.
        assert!(inbox
            .fresh(DB, s, SlotVersion(2), log_of(&[(1, 0xd)]))
            .is_empty());
        assert!(inbox
            .fresh(DB, s, SlotVersion(1), log_of(&[(1, 0xe)]))
            .is_empty());
    }
}
