//! The checkers every simulation runs at its end, over what the nodes hold: they judge the
//! run against the protocol's promises, they decide nothing in it.
//!
//! - **Safety**: no two different blocks of one term at one height among the nodes that never
//!   misbehaved (a block of a later term at the height of an unannounced, dropped block is the
//!   SIP's rule, not a fork); every block those nodes appended carries a producer and a stacker
//!   signature that verify (at their thresholds) against the term's keys; every culprit a key
//!   generation or a signing round named is a node that really was faulty.
//! - **Liveness**: each term whose behaving, reachable parties hold at least the threshold of
//!   slots on both sides made blocks. Not promised for a term a partition overlaps, nor over
//!   lossy links without anti-entropy (the protocol assumes messages arrive). And every
//!   behaving node running at the end holds the chain made before the last term.
//! - **Conservation**: each term's first block pays exactly the term's coinbase, each block pays
//!   exactly its parent's fees to the parent's signers, and the supply at the tip is the
//!   genesis supply plus the coinbases paid.

use crate::report::{Checks, SetSnapshot, SideSlots};
use crate::world::World;
use std::collections::{BTreeMap, BTreeSet};
use tandem_consensus::chain::block::{producer_message, stacker_message};
use tandem_consensus::chain::Block;
use tandem_consensus::{BlockId, BurnHeight, MicroStx, StacksHeight, Term};
use tandem_wfrost::SigningSetCache;

/// Per term, the producer and stacker sides' slots.
pub type TermSlots = BTreeMap<Term, (SideSlots, SideSlots)>;

impl World {
    pub(crate) fn checks(&self, chain: &[&Block], genesis_supply: MicroStx) -> (Checks, TermSlots) {
        let mut c = Checks::default();
        self.check_safety(&mut c);
        let slots = self.check_liveness(chain, &mut c);
        self.check_conservation(chain, genesis_supply, &mut c);
        (c, slots)
    }

    fn honest(&self, node: usize) -> bool {
        !self.plan.byzantine(node)
    }

    /// Whether anything besides its own faults could make an honest node look faulty: it was
    /// down, cut off, on a skewed clock, or its links lose messages.
    fn excusable(&self, node: usize) -> bool {
        self.plan.outages.contains_key(&node)
            || self.plan.cuts.iter().any(|c| c.nodes.contains(&node))
            || self.plan.clock_rate.contains_key(&node)
            || self.scenario.network.lossy()
    }

    fn check_safety(&self, c: &mut Checks) {
        let mut at: BTreeMap<(Term, StacksHeight), BTreeMap<BlockId, Vec<usize>>> = BTreeMap::new();
        let mut blocks: BTreeMap<BlockId, &Block> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !self.honest(i) {
                continue;
            }
            let f = n.machine.follower();
            for ids in f.appended().values() {
                for id in ids {
                    if let Some(b) = f.block(id) {
                        at.entry((b.header.term, b.header.height))
                            .or_default()
                            .entry(*id)
                            .or_default()
                            .push(i);
                        blocks.entry(*id).or_insert(b);
                    }
                }
            }
        }
        for ((term, height), ids) in &at {
            if ids.len() > 1 {
                let which: Vec<String> = ids
                    .iter()
                    .map(|(id, nodes)| format!("{} at {}", short(id), self.node_list(nodes)))
                    .collect();
                c.safety.push(format!(
                    "fork: term {} height {}: {} different blocks ({})",
                    term.0,
                    height.0,
                    ids.len(),
                    which.join("; ")
                ));
            }
        }
        let mut caches = BTreeMap::new();
        for (id, b) in &blocks {
            let Some(info) = self
                .observed
                .terms
                .get(&b.header.term)
                .and_then(|t| t.info.as_ref())
            else {
                c.safety.push(format!(
                    "block {} (term {}, height {}): the observer never had the term's keys to check it",
                    short(id),
                    b.header.term.0,
                    b.header.height.0
                ));
                continue;
            };
            // The checker's own caches, one pair per term, shared with no node: a block's
            // signatures are checked here independently of what the nodes remembered.
            let (pc, sc) = caches.entry(b.header.term).or_insert_with(|| {
                (
                    SigningSetCache::new(&info.producer_key, 64),
                    SigningSetCache::new(&info.stacker_key, 64),
                )
            });
            if let Err(e) =
                b.producer_sig
                    .verify_cached(&info.producer_key, &producer_message(id), pc)
            {
                c.safety.push(format!(
                    "block {} (height {}): producer signature does not verify: {e}",
                    short(id),
                    b.header.height.0
                ));
            }
            if let Err(e) = b
                .stacker_sig
                .verify_cached(&info.stacker_key, &stacker_message(id), sc)
            {
                c.safety.push(format!(
                    "block {} (height {}): stacker signature does not verify: {e}",
                    short(id),
                    b.header.height.0
                ));
            }
        }
        for a in &self.observed.accusations {
            if !self.honest(a.by) {
                continue;
            }
            match a.culprit {
                Some(n) if self.honest(n) && !self.excusable(n) => c.safety.push(format!(
                    "{} named {} as a culprit in {} at {} ms, but it never misbehaved",
                    self.names[a.by], self.names[n], a.set, a.at_ms
                )),
                Some(_) => {}
                None => c.safety.push(format!(
                    "{} named a party that is no node of the run as a culprit in {} at {} ms",
                    self.names[a.by], a.set, a.at_ms
                )),
            }
        }
    }

    fn node_list(&self, nodes: &[usize]) -> String {
        let names: Vec<&str> = nodes.iter().map(|n| self.names[*n].as_str()).collect();
        names.join(",")
    }

    /// The time burn block `h` was mined (`None`: not in this run).
    fn burn_time(&self, h: BurnHeight) -> Option<u64> {
        self.observed.burn_times.get(&h.0).copied()
    }

    /// Whether node `i` behaved and was reachable throughout what term `t` needs of it: no
    /// misbehaviour from `t` or earlier, and no outage from a cycle before the term's start
    /// (which covers the key generations of its sets) to its end; a node that lost its state
    /// is out for good (its key shares are gone).
    fn available(&self, i: usize, t: Term, window: (u64, u64)) -> bool {
        if self
            .plan
            .misbehave
            .get(&i)
            .is_some_and(|fs| fs.iter().any(|f| f.from_term <= t))
            || self.plan.split_chunks.contains_key(&i)
        {
            return false;
        }
        match self.plan.outages.get(&i) {
            None => true,
            Some(o) => {
                let end = match (o.restart, o.state) {
                    (Some(r), crate::scenario::RestartState::Kept) => r,
                    _ => u64::MAX,
                };
                end <= window.0 || o.at > window.1
            }
        }
    }

    fn check_liveness(&self, chain: &[&Block], c: &mut Checks) -> TermSlots {
        let mut out = TermSlots::new();
        let first = self.params.first_producer_term().0;
        for t in first..first + self.scenario.terms {
            let term = Term(t);
            let Ok(range) = self.params.term_range(term) else {
                continue;
            };
            let lookback = BurnHeight(range.start.0.saturating_sub(self.params.cycle_length()));
            let from = self.burn_time(lookback).unwrap_or(0);
            let to = range
                .end
                .0
                .checked_add(1)
                .and_then(|h| self.burn_time(BurnHeight(h)))
                .unwrap_or(u64::MAX);
            let snap = self.observed.terms.get(&term);
            let side = |s: Option<&SetSnapshot>| {
                s.map_or(SideSlots::default(), |set| SideSlots {
                    honest: set
                        .parties
                        .iter()
                        .filter(|(n, _)| n.is_some_and(|n| self.available(n, term, (from, to))))
                        .map(|(_, w)| w)
                        .sum(),
                    total: set.parties.iter().map(|(_, w)| w).sum(),
                    threshold: set.threshold,
                })
            };
            let p = side(snap.and_then(|s| s.producers.as_ref()));
            let s = side(snap.and_then(|s| s.stackers.as_ref()));
            out.insert(term, (p, s));
            let start = self.burn_time(range.start).unwrap_or(0);
            let why_not = if snap.and_then(|s| s.producers.as_ref()).is_none() {
                Some("the observer had no producer set".to_string())
            } else if p.honest < p.threshold || p.threshold == 0 {
                Some(format!(
                    "behaving producers hold {} of {} slots (threshold {})",
                    p.honest, p.total, p.threshold
                ))
            } else if s.honest < s.threshold || s.threshold == 0 {
                Some(format!(
                    "behaving stackers hold {} of {} slots (threshold {})",
                    s.honest, s.total, s.threshold
                ))
            } else if self
                .plan
                .cuts
                .iter()
                .any(|cut| cut.from < to && cut.until > start)
            {
                Some("a partition overlaps it".to_string())
            } else if self.scenario.network.drop > 0.0
                && self.scenario.network.anti_entropy_ms.is_none()
            {
                Some("links lose messages and no anti-entropy runs".to_string())
            } else {
                None
            };
            if let Some(why) = why_not {
                c.not_promised.push(format!("term {t}: {why}"));
                continue;
            }
            let blocks = chain.iter().filter(|b| b.header.term == term).count();
            if blocks == 0 {
                c.liveness.push(format!(
                    "term {t} made no blocks although behaving parties held {}/{} producer and {}/{} stacker slots (thresholds {} and {}){}",
                    p.honest,
                    p.total,
                    s.honest,
                    s.total,
                    p.threshold,
                    s.threshold,
                    self.observed
                        .notes
                        .get(&term)
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                ));
            }
        }
        self.check_caught_up(
            chain,
            Term(first + self.scenario.terms.saturating_sub(1)),
            c,
        );
        out
    }

    /// Every behaving node that runs at the end holds the chain made before the last term
    /// began: a node that fell behind (a key it never learnt, a link that went deaf) and never
    /// caught up fails liveness even though the others made blocks. Nodes that misbehaved,
    /// and nodes down at the end or restarted without their state, are not judged.
    fn check_caught_up(&self, chain: &[&Block], last: Term, c: &mut Checks) {
        let Some(settled) = chain
            .iter()
            .filter(|b| b.header.term < last)
            .map(|b| b.header.height)
            .max()
        else {
            return;
        };
        for (i, n) in self.nodes.iter().enumerate() {
            let running_with_state = self.plan.outages.get(&i).is_none_or(|o| {
                o.restart.is_some() && o.state == crate::scenario::RestartState::Kept
            });
            if !self.honest(i) || !running_with_state {
                continue;
            }
            let holds = n.machine.follower().tip_parent().height;
            if holds < settled {
                c.liveness.push(format!(
                    "{} holds the chain to height {} only; before term {} it reached {}",
                    self.names[i], holds.0, last.0, settled.0
                ));
            }
        }
    }

    fn check_conservation(&self, chain: &[&Block], genesis_supply: MicroStx, c: &mut Checks) {
        let mut minted: u128 = 0;
        let mut parent: Option<&Block> = None;
        let mut seen_terms = BTreeSet::new();
        for b in chain {
            let id = b.id();
            let Some(a) = self.observed.appended.get(&id) else {
                c.conservation.push(format!(
                    "block {} (height {}) has no receipt at the observer",
                    short(&id),
                    b.header.height.0
                ));
                parent = Some(b);
                continue;
            };
            let coinbase: u128 = a.coinbase.iter().map(|(_, x)| x).sum();
            let fees: u128 = a.fees.iter().map(|(_, x)| x).sum();
            minted += coinbase;
            let first_of_term = parent.is_none_or(|p| p.header.term != b.header.term);
            let expected_coinbase = if first_of_term {
                self.observed
                    .terms
                    .get(&b.header.term)
                    .and_then(|t| t.info.as_ref())
                    .map_or(0, |i| i.coinbase.0)
            } else {
                0
            };
            if first_of_term && !seen_terms.insert(b.header.term) {
                c.conservation.push(format!(
                    "term {} has two first blocks in the chain",
                    b.header.term.0
                ));
            }
            if coinbase != expected_coinbase {
                c.conservation.push(format!(
                    "block {} (height {}) paid {coinbase} uSTX of coinbase, expected {expected_coinbase}",
                    short(&id),
                    b.header.height.0
                ));
            }
            let expected_fees = parent.map_or(0, |p| p.header.fees.0);
            if fees != expected_fees {
                c.conservation.push(format!(
                    "block {} (height {}) paid {fees} uSTX of fees, its parent collected {expected_fees}",
                    short(&id),
                    b.header.height.0
                ));
            }
            parent = Some(b);
        }
        let state = self.nodes[self.observer].machine.follower().tip_state();
        let supply = state.pox().liquid_supply().0;
        let expected = genesis_supply.0 + minted;
        if supply != expected {
            c.conservation.push(format!(
                "liquid supply {supply} uSTX at the tip, expected genesis {} + coinbase {minted}",
                genesis_supply.0
            ));
        }
        match state.pox().total_balances() {
            Some(total) if total.0 + state.held_fees().0 == supply => {}
            Some(total) => c.conservation.push(format!(
                "balances {} + held fees {} uSTX differ from the liquid supply {supply}",
                total.0,
                state.held_fees().0
            )),
            None => c
                .conservation
                .push("balances overflow when summed".to_string()),
        }
    }
}

fn short(id: &BlockId) -> String {
    hex::encode(&id.0[..4])
}
