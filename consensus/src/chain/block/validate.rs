//! What a follower checks of a block, and the term facts it checks against.

use super::*;
use crate::params::NetworkParams;
use crate::producer_set::ProducerSet;

/// A producer of a term as the chain pays it: its reward principal (the Stacks address of its
/// enrollment's signing key), its spend, and its FROST party (none with 0 slots).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermProducer {
    pub reward_to: Principal,
    pub spend: Sats,
    pub party: Option<PartyId>,
}

/// Everything a follower knows about a term: its producers in ascending tie-break order,
/// their group key, the stacker key of the cycle it lies in, and where it must start.
#[derive(Clone, Debug)]
pub struct TermInfo {
    pub term: Term,
    pub producers: Vec<TermProducer>,
    pub producer_key: GroupKey,
    pub stacker_key: GroupKey,
    /// The block the term's first block builds on: the last announced block of the prior
    /// terms ([`BlockId::GENESIS`] before any).
    pub start_parent: BlockId,
    /// The term's coinbase (10 x the per-block coinbase).
    pub coinbase: MicroStx,
    pub cost_limit: Cost,
    /// Stacks operations mined on Bitcoin that this node knows, in burn order (the node
    /// machine keeps it up to date as burn blocks arrive and roll back); a block carries the
    /// ones its chain has not applied yet ([`crate::chain::burn_ops::pending`]).
    pub burn_ops: Vec<BurnStacksOp>,
}

impl TermInfo {
    /// A term's facts from its producer set: the producers in ascending tie-break order with
    /// their reward principal, spend and FROST party (the set's numbering,
    /// [`ProducerSet::members_with_parties`]: none with 0 slots), the term's coinbase (SIP: the
    /// coinbase goes "pro-rata to all producers") and the term's cost limit (costs apply to the
    /// term as a whole).
    pub fn new<K>(
        term: Term,
        set: &ProducerSet<K>,
        reward_to: impl Fn(&K) -> Principal,
        keys: (GroupKey, GroupKey),
        start_parent: BlockId,
        params: &NetworkParams,
    ) -> TermInfo {
        let (producer_key, stacker_key) = keys;
        TermInfo {
            term,
            producers: set
                .members_with_parties()
                .map(|(party, m)| TermProducer {
                    reward_to: reward_to(&m.id),
                    spend: m.spend,
                    party,
                })
                .collect(),
            producer_key,
            stacker_key,
            start_parent,
            coinbase: params.term_coinbase(term),
            cost_limit: Cost::term_limit(Cost::STACKS_BLOCK_LIMIT, params.term_length()),
            burn_ops: Vec::new(),
        }
    }

    pub fn spends(&self) -> Vec<(Principal, Sats)> {
        self.producers
            .iter()
            .map(|p| (p.reward_to.clone(), p.spend))
            .collect()
    }

    /// The producers marked as signers in a producer signature, in tie-break order.
    pub fn signers_of(&self, sig: &AccountableSignature) -> Vec<(Principal, Sats)> {
        let marked = sig.signers(&self.producer_key);
        self.producers
            .iter()
            .filter(|p| p.party.is_some_and(|id| marked.contains(&id)))
            .map(|p| (p.reward_to.clone(), p.spend))
            .collect()
    }
}

/// The parent a block builds on, as the follower has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parent {
    pub id: BlockId,
    pub height: StacksHeight,
    /// `None` for genesis.
    pub term: Option<Term>,
    pub burn_height: BurnHeight,
    /// The producers who signed the parent (they get its fees).
    pub signers: Vec<(Principal, Sats)>,
    /// Cost already used in the parent's term (0 for genesis).
    pub term_cost: Cost,
}

impl Parent {
    pub fn genesis(first_burn_height: BurnHeight) -> Parent {
        Parent {
            id: BlockId::GENESIS,
            height: StacksHeight(0),
            term: None,
            burn_height: first_burn_height,
            signers: Vec::new(),
            term_cost: Cost::ZERO,
        }
    }
}

/// The checks that need no chainstate: encoding-level header rules, parent and term rules.
pub fn check_header(
    header: &BlockHeader,
    parent: &Parent,
    info: &TermInfo,
    chain_id: u32,
    term_of_burn_height: Term,
    burn_tip: BurnHeight,
) -> Result<(), BlockError> {
    if header.chain_id != chain_id {
        return Err(BlockError::ChainId {
            got: header.chain_id,
            expected: chain_id,
        });
    }
    if Some(header.height) != parent.height.checked_next() {
        return Err(BlockError::Height {
            got: header.height,
            parent: parent.height,
        });
    }
    if header.parent != parent.id {
        return Err(BlockError::Parent {
            got: header.parent,
            expected: parent.id,
        });
    }
    if header.term != term_of_burn_height || header.term != info.term {
        return Err(BlockError::BurnHeightTerm {
            height: header.burn_height,
            term: header.term,
        });
    }
    if header.burn_height < parent.burn_height {
        return Err(BlockError::BurnHeightBackwards {
            height: header.burn_height,
            parent: parent.burn_height,
        });
    }
    if header.burn_height > burn_tip {
        return Err(BlockError::BurnHeightAhead {
            height: header.burn_height,
            tip: burn_tip,
        });
    }
    match parent.term {
        Some(t) if t > header.term => {
            return Err(BlockError::TermBackwards {
                block: header.term,
                parent: t,
            })
        }
        Some(t) if t == header.term => {}
        // SIP: "The first block of a term always builds off the last bitcoin-announced block
        // of the prior term. Producers may not choose to reorg a prior term, but any
        // unannounced blocks from the prior term are dropped."
        _ => {
            if header.parent != info.start_parent {
                return Err(BlockError::TermStart {
                    term: header.term,
                    got: header.parent,
                    expected: info.start_parent,
                });
            }
        }
    }
    Ok(())
}

/// The rewards the start of a block pays: the coinbase on a term's first block, and the
/// parent's fees to the parent's signers.
pub fn block_rewards(header: &BlockHeader, parent: &Parent, info: &TermInfo) -> BlockRewards {
    let first_of_term = parent.term != Some(header.term);
    BlockRewards {
        coinbase: first_of_term.then(|| (info.coinbase, info.spends())),
        parent_signers: parent.signers.clone(),
        burn_ops: Vec::new(),
    }
}

/// The coinbase transaction a block must start with: the term's, in the term's first block
/// (SIP: "The coinbase transaction should be the first transaction in a term"), none in any
/// other. A term that makes no block mints nothing: its coinbase is forfeited, not carried to
/// a later term's set (protocol.md section 14).
pub fn expected_coinbase(
    header: &BlockHeader,
    parent: &Parent,
    info: &TermInfo,
    chain_id: u32,
) -> Option<Coinbase> {
    (parent.term != Some(header.term)).then_some(Coinbase {
        chain_id,
        term: info.term,
        amount: info.coinbase,
    })
}

/// Refuses a block whose coinbase is missing, misplaced or not the schedule's.
pub fn check_coinbase(
    header: &BlockHeader,
    parent: &Parent,
    info: &TermInfo,
    chain_id: u32,
    got: Option<&Coinbase>,
) -> Result<(), BlockError> {
    match (got, expected_coinbase(header, parent, info, chain_id)) {
        (None, None) => Ok(()),
        (Some(g), Some(e)) if *g == e => Ok(()),
        (Some(g), Some(e)) => Err(BlockError::WrongCoinbase {
            got: Box::new(*g),
            expected: Box::new(e),
        }),
        (None, Some(e)) => Err(BlockError::MissingCoinbase {
            term: e.term,
            expected: e.amount,
        }),
        (Some(_), None) => Err(BlockError::UnexpectedCoinbase { term: header.term }),
    }
}

/// Refuses a block whose burn operations are not exactly the ones pending on its chain at its
/// burn height, in burn order: SIP, stackers check that a block "faithfully applies any
/// on-Bitcoin Stacks transactions".
pub fn check_burn_ops(
    header: &BlockHeader,
    state: &Chainstate,
    info: &TermInfo,
    got: &[BurnStacksOp],
) -> Result<(), BlockError> {
    let want = crate::chain::burn_ops::pending(
        &info.burn_ops,
        state.burn_ops_through(),
        header.burn_height,
    );
    for (i, w) in want.iter().enumerate() {
        let named = |w: &BurnStacksOp| (w.kind.name(), w.burn_height, w.vtxindex);
        match got.get(i) {
            Some(g) if g == w => {}
            Some(g) if g.position() == w.position() => {
                let (kind, height, vtxindex) = named(w);
                return Err(BlockError::AlteredBurnOp {
                    kind,
                    height,
                    vtxindex,
                });
            }
            _ => {
                let (kind, height, vtxindex) = named(w);
                return Err(BlockError::MissingBurnOp {
                    kind,
                    height,
                    vtxindex,
                });
            }
        }
    }
    if let Some(extra) = got.get(want.len()) {
        return Err(BlockError::UnexpectedBurnOp {
            kind: extra.kind.name(),
            height: extra.burn_height,
            vtxindex: extra.vtxindex,
        });
    }
    Ok(())
}

/// The cost left in the term before this block.
pub fn term_budget(header: &BlockHeader, parent: &Parent, info: &TermInfo) -> Cost {
    let used = if parent.term == Some(header.term) {
        parent.term_cost
    } else {
        Cost::ZERO
    };
    info.cost_limit.remaining_after(used)
}

/// A validator's per-term signature state: each group's fixed-base table and the folded
/// verifying shares of signing sets seen twice (weighted-frost.md).
#[derive(Clone, Debug)]
pub struct SignatureCaches {
    pub producer: SigningSetCache,
    pub stacker: SigningSetCache,
}

impl SignatureCaches {
    pub fn new(info: &TermInfo) -> SignatureCaches {
        SignatureCaches {
            producer: SigningSetCache::new(&info.producer_key, 8),
            stacker: SigningSetCache::new(&info.stacker_key, 8),
        }
    }

    /// The next term's caches: the producer set is new every term, but the stacker set lasts
    /// a reward cycle, so its table and folded sets carry over (a cache handed another key
    /// starts over by itself).
    pub fn for_term(&self, info: &TermInfo) -> SignatureCaches {
        let mut producer = SigningSetCache::new(&info.producer_key, 8);
        if let Some(shared) = self.producer.shared_verifications() {
            producer.share_verifications(shared.clone());
        }
        SignatureCaches {
            producer,
            stacker: self.stacker.clone(),
        }
    }

    /// Shares verification results with other validators in this process (see
    /// [`SharedVerifications`]).
    pub fn share_verifications(&mut self, shared: &SharedVerifications) {
        self.producer.share_verifications(shared.clone());
        self.stacker.share_verifications(shared.clone());
    }
}

/// The one validation a follower runs: header rules, both signatures (every marked party
/// signed, the marked parties reach the threshold), then the transactions applied to
/// `state`, which must come to the header's state root, fees and cost. On error `state` is
/// unchanged.
pub fn validate_block(
    state: &mut Chainstate,
    parent: &Parent,
    block: &Block,
    info: &TermInfo,
    burn_tip: BurnHeight,
    caches: Option<&mut SignatureCaches>,
) -> Result<BlockReceipt, BlockError> {
    let params = state.params().clone();
    let term =
        params
            .term_of(block.header.burn_height)
            .map_err(|_| BlockError::BurnHeightTerm {
                height: block.header.burn_height,
                term: block.header.term,
            })?;
    check_header(
        &block.header,
        parent,
        info,
        params.chain_id(),
        term,
        burn_tip,
    )?;
    let id = block.id();
    // SIP: "A block is only appended to the Stacks chain if it contains two Schnorr
    // signatures -- one from the producers and one from the stackers".
    let (pm, sm) = (producer_message(&id), stacker_message(&id));
    match caches {
        Some(c) => {
            block
                .producer_sig
                .verify_cached(&info.producer_key, &pm, &mut c.producer)
                .map_err(BlockError::ProducerSignature)?;
            block
                .stacker_sig
                .verify_cached(&info.stacker_key, &sm, &mut c.stacker)
                .map_err(BlockError::StackerSignature)?;
        }
        None => {
            block
                .producer_sig
                .verify(&info.producer_key, &pm)
                .map_err(BlockError::ProducerSignature)?;
            block
                .stacker_sig
                .verify(&info.stacker_key, &sm)
                .map_err(BlockError::StackerSignature)?;
        }
    }
    apply_checked(state, parent, &block.header, block.body(), info)
}

/// The state part of validation, shared by followers and by stackers checking a
/// producer-signed candidate before they sign it.
pub fn apply_checked(
    state: &mut Chainstate,
    parent: &Parent,
    header: &BlockHeader,
    body: Body<'_>,
    info: &TermInfo,
) -> Result<BlockReceipt, BlockError> {
    if txs_hash(body)? != header.txs_hash {
        return Err(BlockError::TxsHash);
    }
    check_coinbase(
        header,
        parent,
        info,
        state.params().chain_id(),
        body.coinbase,
    )?;
    check_burn_ops(header, state, info, body.burn_ops)?;
    let mut rewards = block_rewards(header, parent, info);
    rewards.burn_ops = body.burn_ops.to_vec();
    let budget = term_budget(header, parent, info);
    Ok(state.apply_block(
        &rewards,
        body.txs,
        header.burn_height,
        budget,
        Some(Expected {
            state_root: header.state_root,
            fees: header.fees,
            cost: header.cost,
        }),
    )?)
}
