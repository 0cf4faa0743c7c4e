//! A node's view of the Stacks chain: blocks appended with both signatures, announcements, and
//! where each term starts.
//!
//! SIP: "The first block of a term always builds off the last bitcoin-announced block of the
//! prior term. Producers may not choose to reorg a prior term, but any unannounced blocks from
//! the prior term are dropped." The follower keeps the state after every block of the chain
//! it follows, so that dropping unannounced blocks is moving the tip back.

use crate::chain::block::{validate_block, BlockError, BlockId, SignatureCaches};
use crate::chain::{Block, BlockReceipt, Chainstate, Parent, TermInfo};
use crate::hashes::StateRoot;
use crate::height::StacksHeight;
use crate::height::{BurnHeight, Term};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tandem_wfrost::SharedVerifications;

struct Stored {
    block: Block,
    /// The block as a parent of the next one.
    as_parent: Parent,
    /// Shared with the other followers that reached the same state (see [`SharedStates`]).
    state: Arc<Chainstate>,
}

/// Chain states shared by the followers of one process (a simulator's nodes all apply every
/// block to the same parent state and keep the result). After a follower validates a block,
/// it keeps the copy another follower already keeps when that copy is interchangeable with
/// its own (compared in full, not trusted by the state root), else it offers its own.
#[derive(Clone, Debug, Default)]
pub struct SharedStates {
    inner: Arc<Mutex<BTreeMap<BlockId, Vec<Arc<Chainstate>>>>>,
}

/// Blocks whose states are remembered at once; past it the map starts over.
const SHARED_STATE_BLOCKS: usize = 256;

impl SharedStates {
    pub fn new() -> SharedStates {
        SharedStates::default()
    }

    /// The shared copy of `state` (the state after block `id`), or `state` itself, now shared.
    fn intern(&self, id: BlockId, state: Chainstate) -> Arc<Chainstate> {
        // A poisoned lock (a panic elsewhere while holding it) only costs the sharing.
        let Ok(mut map) = self.inner.lock() else {
            return Arc::new(state);
        };
        if let Some(same) = map
            .get(&id)
            .and_then(|v| v.iter().find(|s| s.interchangeable(&state)))
        {
            return same.clone();
        }
        if map.len() >= SHARED_STATE_BLOCKS && !map.contains_key(&id) {
            map.clear();
        }
        let state = Arc::new(state);
        map.entry(id).or_default().push(state.clone());
        state
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnounceError {
    #[error("announced block {0} is not known")]
    UnknownBlock(BlockId),
    #[error("announced block {id} is in term {actual}, the announcement says {claimed}")]
    WrongTerm {
        id: BlockId,
        claimed: Term,
        actual: Term,
    },
    #[error("announced state root does not match block {0}")]
    StateRoot(BlockId),
    #[error("announced block {id} does not extend the term's previous announcement {previous}")]
    DoesNotExtend { id: BlockId, previous: BlockId },
}

pub struct Follower {
    genesis: Chainstate,
    genesis_parent: Parent,
    blocks: BTreeMap<BlockId, Stored>,
    tip: BlockId,
    /// Every block ever appended, by height: more than one id at a height would be a fork.
    appended: BTreeMap<StacksHeight, Vec<BlockId>>,
    /// The last valid announcement of each term so far.
    announced: BTreeMap<Term, BlockId>,
    dropped: u64,
    caches: BTreeMap<Term, SignatureCaches>,
    shared: Option<SharedVerifications>,
    states: Option<SharedStates>,
}

impl Follower {
    pub fn new(genesis: Chainstate) -> Follower {
        let first = genesis.params().first_burn_height();
        Follower {
            genesis,
            genesis_parent: Parent::genesis(first),
            blocks: BTreeMap::new(),
            tip: BlockId::GENESIS,
            appended: BTreeMap::new(),
            announced: BTreeMap::new(),
            dropped: 0,
            caches: BTreeMap::new(),
            shared: None,
            states: None,
        }
    }

    /// Shares chain states with other followers in this process (see [`SharedStates`]).
    pub fn share_states(&mut self, states: SharedStates) {
        self.states = Some(states);
    }

    /// Shares signature verifications with other followers in this process (the simulator's
    /// nodes all verify every block).
    pub fn share_verifications(&mut self, shared: SharedVerifications) {
        self.shared = Some(shared);
    }

    pub fn tip(&self) -> BlockId {
        self.tip
    }

    pub fn tip_parent(&self) -> &Parent {
        self.blocks
            .get(&self.tip)
            .map_or(&self.genesis_parent, |s| &s.as_parent)
    }

    pub fn tip_state(&self) -> &Chainstate {
        self.blocks
            .get(&self.tip)
            .map_or(&self.genesis, |s| s.state.as_ref())
    }

    pub fn block(&self, id: &BlockId) -> Option<&Block> {
        self.blocks.get(id).map(|s| &s.block)
    }

    pub fn appended(&self) -> &BTreeMap<StacksHeight, Vec<BlockId>> {
        &self.appended
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn announced(&self) -> &BTreeMap<Term, BlockId> {
        &self.announced
    }

    /// Validates `block` on the tip and appends it.
    pub fn append(
        &mut self,
        block: &Block,
        info: &TermInfo,
        burn_tip: BurnHeight,
    ) -> Result<BlockReceipt, BlockError> {
        let parent = self.tip_parent().clone();
        let mut state = self.tip_state().clone();
        if !self.caches.contains_key(&info.term) {
            let fresh = match self.caches.range(..info.term).next_back() {
                Some((_, earlier)) => earlier.for_term(info),
                None => {
                    let mut c = SignatureCaches::new(info);
                    if let Some(shared) = &self.shared {
                        c.share_verifications(shared);
                    }
                    c
                }
            };
            self.caches.insert(info.term, fresh);
        }
        let caches = self
            .caches
            .entry(info.term)
            .or_insert_with(|| SignatureCaches::new(info));
        let receipt = validate_block(&mut state, &parent, block, info, burn_tip, Some(caches))?;
        let id = block.id();
        let term_cost = if parent.term == Some(block.header.term) {
            parent.term_cost.saturating_add(block.header.cost)
        } else {
            block.header.cost
        };
        self.blocks.insert(
            id,
            Stored {
                block: block.clone(),
                as_parent: Parent {
                    id,
                    height: block.header.height,
                    term: Some(block.header.term),
                    burn_height: block.header.burn_height,
                    signers: info.signers_of(&block.producer_sig),
                    term_cost,
                },
                state: match &self.states {
                    Some(states) => states.intern(id, state),
                    None => Arc::new(state),
                },
            },
        );
        self.tip = id;
        let at = self.appended.entry(block.header.height).or_default();
        if !at.contains(&id) {
            at.push(id);
        }
        Ok(receipt)
    }

    /// A `+` announcement mined on Bitcoin (its sender was checked against the term's
    /// producers by the burnchain layer).
    pub fn on_announcement(
        &mut self,
        term: Term,
        id: BlockId,
        state_root: StateRoot,
    ) -> Result<(), AnnounceError> {
        let stored = self
            .blocks
            .get(&id)
            .ok_or(AnnounceError::UnknownBlock(id))?;
        if stored.block.header.term != term {
            return Err(AnnounceError::WrongTerm {
                id,
                claimed: term,
                actual: stored.block.header.term,
            });
        }
        if stored.block.header.state_root != state_root {
            return Err(AnnounceError::StateRoot(id));
        }
        if let Some(prev) = self.announced.get(&term) {
            if !self.extends(id, *prev) {
                return Err(AnnounceError::DoesNotExtend {
                    id,
                    previous: *prev,
                });
            }
        }
        self.announced.insert(term, id);
        Ok(())
    }

    /// Forgets every announcement (the burn chain reorganised: the node replays the ones that
    /// remain on the new chain). Blocks stay.
    pub fn forget_announcements(&mut self) {
        self.announced.clear();
    }

    fn extends(&self, id: BlockId, ancestor: BlockId) -> bool {
        let mut cur = id;
        loop {
            if cur == ancestor {
                return true;
            }
            match self.blocks.get(&cur) {
                Some(s) => cur = s.block.header.parent,
                None => return false,
            }
        }
    }

    /// The state root of a term's final announcement (so far): what an enrollment made in term
    /// N+3 must carry (protocol.md section 3); `None` when the term announced nothing.
    pub fn announced_root(&self, term: Term) -> Option<StateRoot> {
        let id = self.announced.get(&term)?;
        self.blocks.get(id).map(|s| s.block.header.state_root)
    }

    /// Where term `term`'s first block builds: the latest final announcement of an earlier
    /// term, or genesis.
    pub fn start_parent(&self, term: Term) -> BlockId {
        self.announced
            .range(..term)
            .next_back()
            .map_or(BlockId::GENESIS, |(_, id)| *id)
    }

    /// Term `term` begins: the tip moves back to its start parent, dropping the blocks after
    /// it ("any unannounced blocks from the prior term are dropped"). Returns how many blocks
    /// were dropped.
    pub fn start_term(&mut self, term: Term) -> u64 {
        let start = self.start_parent(term);
        let mut dropped = 0;
        let mut cur = self.tip;
        while cur != start {
            match self.blocks.get(&cur) {
                Some(s) => {
                    cur = s.block.header.parent;
                    dropped += 1;
                }
                None => break,
            }
        }
        self.tip = start;
        self.dropped += dropped;
        // Caches of terms that can no longer get blocks are dead weight.
        self.caches.retain(|t, _| *t >= term);
        dropped
    }
}
