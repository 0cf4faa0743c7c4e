//! Network parameters (protocol.md section 1) and the height math every crate shares.
//!
//! A `NetworkParams` can only be built through validation, so code that holds one may rely on
//! its invariants: lengths are non-zero, the cycle and prepare lengths are multiples of the term
//! length (so a term never straddles a phase boundary), and thresholds fit their slot counts.

use crate::height::{BurnHeight, Phase, RewardCycle, Term};
use crate::units::MicroStx;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The three networks Tandem knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Mainnet,
    Testnet,
    Regtest,
}

impl Network {
    pub const ALL: [Network; 3] = [Network::Mainnet, Network::Testnet, Network::Regtest];

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Regtest => "regtest",
        }
    }

    /// The Bitcoin network whose addresses and blocks this network uses.
    pub fn bitcoin(self) -> bitcoin::Network {
        match self {
            Network::Mainnet => bitcoin::Network::Bitcoin,
            Network::Testnet => bitcoin::Network::Testnet,
            Network::Regtest => bitcoin::Network::Regtest,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown network name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown network {0:?}: expected mainnet, testnet or regtest")]
pub struct UnknownNetwork(pub String);

impl FromStr for Network {
    type Err = UnknownNetwork;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainnet" => Ok(Network::Mainnet),
            "testnet" => Ok(Network::Testnet),
            "regtest" => Ok(Network::Regtest),
            other => Err(UnknownNetwork(other.to_string())),
        }
    }
}

/// The raw, unvalidated parameter values. Start from [`ParamsSpec::preset`] and override
/// fields (a devnet config or a simulator scenario does this), then validate with
/// [`NetworkParams::new`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamsSpec {
    pub network: Network,
    /// First two bytes of every operation's `OP_RETURN` push.
    pub magic: [u8; 2],
    /// The first burn block of the chain: term 0 and reward cycle 0 start here.
    pub first_burn_height: BurnHeight,
    pub term_length: u32,
    pub cycle_length: u32,
    pub prepare_length: u32,
    /// Producer signer slots (100) and how many must sign (67).
    pub producer_signer_slots: u32,
    pub producer_threshold: u32,
    pub max_producers: u32,
    /// Burn blocks per year of the coinbase schedule ([`crate::coinbase`]): 52,596, Stacks'
    /// own figure. A shorter year lets a simulation reach the schedule's later steps.
    pub coinbase_blocks_per_year: u32,
    /// SIP-018 chain id: 1 on mainnet, 0x80000000 on testnet and regtest.
    pub chain_id: u32,
    /// pox-4's `STACKING_THRESHOLD_25`: the stacking minimum is the liquid supply divided by
    /// this (20,000 on mainnet, 8,000 elsewhere, as pox-4 has it).
    pub stacking_threshold_divisor: u128,
    /// Burn blocks a key-generation attempt waits for missing packages before it restarts
    /// without the silent parties (protocol.md section 10): 5, half a term, so a producer key
    /// generation that starts at the beginning of term N-1 has room for one restart.
    pub keygen_deadline_burn_blocks: u32,
    /// Which stacking contract's rules the chain runs: pox-4 (today's Stacks, the default) or
    /// the SIP's pox-5 (delegated stackers name their own signer key; protocol.md section 12).
    #[serde(default)]
    pub pox: PoxVersion,
}

/// The stacking contract whose rules the chain runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoxVersion {
    /// pox-4: a pool's stake signs with the key its operator commits with.
    #[default]
    #[serde(rename = "pox-4")]
    Pox4,
    /// The SIP's `.pox-5`: `delegate-stx` carries the stacker's own `(buff 33)` signer key, so
    /// delegated stackers sign for themselves, each weighted by the reward slots its own
    /// stake earns.
    #[serde(rename = "pox-5")]
    Pox5,
}

impl std::fmt::Display for PoxVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PoxVersion::Pox4 => "pox-4",
            PoxVersion::Pox5 => "pox-5",
        })
    }
}

impl ParamsSpec {
    /// The values of protocol.md section 1 for a network.
    ///
    /// `first_burn_height` defaults: mainnet 666050 and testnet 2000000 are the Bitcoin heights
    /// at which the Stacks 2.0 chains start; regtest uses 1, the first height that has a block
    /// before it (the payout seed of terms 0-2 reads the block just before the first one).
    pub fn preset(network: Network) -> ParamsSpec {
        let (magic, first, cycle, prepare, chain_id) = match network {
            Network::Mainnet => (*b"X2", 666_050, 2100, 100, 1),
            Network::Testnet => (*b"T2", 2_000_000, 1050, 50, 0x8000_0000),
            Network::Regtest => (*b"id", 1, 60, 20, 0x8000_0000),
        };
        ParamsSpec {
            network,
            magic,
            first_burn_height: BurnHeight(first),
            term_length: 10,
            cycle_length: cycle,
            prepare_length: prepare,
            producer_signer_slots: 100,
            // SIP: a block needs "at least 67 of them" of the 100 producer signer slots.
            producer_threshold: tandem_wfrost::Threshold::SIP.of(100),
            max_producers: 100,
            coinbase_blocks_per_year: crate::coinbase::STACKS_BLOCKS_PER_YEAR,
            chain_id,
            stacking_threshold_divisor: if network == Network::Mainnet {
                20_000
            } else {
                8_000
            },
            keygen_deadline_burn_blocks: 5,
            pox: PoxVersion::Pox4,
        }
    }
}

/// A parameter set that failed validation; every variant names the offending field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    #[error("term_length must be at least 1")]
    TermLengthZero,
    #[error("first_burn_height must be at least 1 (the payout seed of the first terms reads the block before it)")]
    FirstBurnHeightZero,
    #[error("cycle_length {cycle_length} is not a positive multiple of term_length {term_length}")]
    CycleNotMultipleOfTerm { cycle_length: u32, term_length: u32 },
    #[error(
        "prepare_length {prepare_length} is not a positive multiple of term_length {term_length}"
    )]
    PrepareNotMultipleOfTerm {
        prepare_length: u32,
        term_length: u32,
    },
    #[error("prepare_length {prepare_length} must be shorter than cycle_length {cycle_length}")]
    PrepareNotShorterThanCycle {
        prepare_length: u32,
        cycle_length: u32,
    },
    #[error("producer_signer_slots must be between 1 and 1000, got {0}")]
    SignerSlotsOutOfRange(u32),
    #[error("producer_threshold {threshold} must be between 1 and producer_signer_slots {slots}")]
    ThresholdOutOfRange { threshold: u32, slots: u32 },
    #[error("max_producers {max} must be between 1 and producer_signer_slots {slots}")]
    MaxProducersOutOfRange { max: u32, slots: u32 },
    #[error(
        "keygen_deadline_burn_blocks {blocks} must be between 1 and term_length {term_length}"
    )]
    KeygenDeadlineOutOfRange { blocks: u32, term_length: u32 },
    #[error("stacking_threshold_divisor must be at least 1")]
    StackingThresholdDivisorZero,
    #[error("coinbase_blocks_per_year must be at least 1")]
    CoinbaseYearZero,
    #[error("reward slots (2 x reward-phase blocks) overflow for cycle_length {0}")]
    RewardSlotsOverflow(u32),
}

/// A height-math question with no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeightError {
    #[error("burn height {height} is before first_burn_height {first}")]
    BeforeFirstBurnHeight {
        height: BurnHeight,
        first: BurnHeight,
    },
    #[error("term {0} has no enrollment window: term N is enrolled for in term N-2")]
    NoEnrollmentWindow(Term),
    #[error("height arithmetic overflows u32 for term {0}")]
    TermOverflow(Term),
    #[error("height arithmetic overflows u32 for reward cycle {0}")]
    CycleOverflow(RewardCycle),
}

/// Validated network parameters; see [`ParamsSpec`] for the fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkParams {
    spec: ParamsSpec,
}

/// Where a burn height sits in the term and cycle structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HeightInfo {
    pub height: BurnHeight,
    pub term: Term,
    pub position_in_term: u32,
    pub cycle: RewardCycle,
    pub position_in_cycle: u32,
    pub phase: Phase,
}

/// A closed range of burn heights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HeightRange {
    pub start: BurnHeight,
    pub end: BurnHeight,
}

impl NetworkParams {
    /// Validates a spec.
    pub fn new(spec: ParamsSpec) -> Result<NetworkParams, ParamsError> {
        let t = spec.term_length;
        if t == 0 {
            return Err(ParamsError::TermLengthZero);
        }
        if spec.first_burn_height.0 == 0 {
            return Err(ParamsError::FirstBurnHeightZero);
        }
        if spec.cycle_length == 0 || spec.cycle_length % t != 0 {
            return Err(ParamsError::CycleNotMultipleOfTerm {
                cycle_length: spec.cycle_length,
                term_length: t,
            });
        }
        if spec.prepare_length == 0 || spec.prepare_length % t != 0 {
            return Err(ParamsError::PrepareNotMultipleOfTerm {
                prepare_length: spec.prepare_length,
                term_length: t,
            });
        }
        if spec.prepare_length >= spec.cycle_length {
            return Err(ParamsError::PrepareNotShorterThanCycle {
                prepare_length: spec.prepare_length,
                cycle_length: spec.cycle_length,
            });
        }
        // The cap keeps the producer Stacker DB (3 x slots chunks) and round-robin math small.
        if spec.producer_signer_slots == 0 || spec.producer_signer_slots > 1000 {
            return Err(ParamsError::SignerSlotsOutOfRange(
                spec.producer_signer_slots,
            ));
        }
        if spec.producer_threshold == 0 || spec.producer_threshold > spec.producer_signer_slots {
            return Err(ParamsError::ThresholdOutOfRange {
                threshold: spec.producer_threshold,
                slots: spec.producer_signer_slots,
            });
        }
        // Proposal slots are 2S..3S, one per producer, so there can be at most S producers.
        if spec.max_producers == 0 || spec.max_producers > spec.producer_signer_slots {
            return Err(ParamsError::MaxProducersOutOfRange {
                max: spec.max_producers,
                slots: spec.producer_signer_slots,
            });
        }
        if (spec.cycle_length - spec.prepare_length)
            .checked_mul(2)
            .is_none()
        {
            return Err(ParamsError::RewardSlotsOverflow(spec.cycle_length));
        }
        if spec.stacking_threshold_divisor == 0 {
            return Err(ParamsError::StackingThresholdDivisorZero);
        }
        if spec.coinbase_blocks_per_year == 0 {
            return Err(ParamsError::CoinbaseYearZero);
        }
        if spec.keygen_deadline_burn_blocks == 0
            || spec.keygen_deadline_burn_blocks > spec.term_length
        {
            return Err(ParamsError::KeygenDeadlineOutOfRange {
                blocks: spec.keygen_deadline_burn_blocks,
                term_length: spec.term_length,
            });
        }
        Ok(NetworkParams { spec })
    }

    /// The preset of a network; presets always validate.
    pub fn preset(network: Network) -> NetworkParams {
        NetworkParams {
            spec: ParamsSpec::preset(network),
        }
    }

    pub fn spec(&self) -> &ParamsSpec {
        &self.spec
    }
    pub fn keygen_deadline_burn_blocks(&self) -> u32 {
        self.spec.keygen_deadline_burn_blocks
    }
    pub fn network(&self) -> Network {
        self.spec.network
    }
    pub fn magic(&self) -> [u8; 2] {
        self.spec.magic
    }
    pub fn first_burn_height(&self) -> BurnHeight {
        self.spec.first_burn_height
    }
    pub fn term_length(&self) -> u32 {
        self.spec.term_length
    }
    pub fn cycle_length(&self) -> u32 {
        self.spec.cycle_length
    }
    pub fn prepare_length(&self) -> u32 {
        self.spec.prepare_length
    }
    pub fn producer_signer_slots(&self) -> u32 {
        self.spec.producer_signer_slots
    }
    pub fn producer_threshold(&self) -> u32 {
        self.spec.producer_threshold
    }
    pub fn max_producers(&self) -> u32 {
        self.spec.max_producers
    }
    pub fn chain_id(&self) -> u32 {
        self.spec.chain_id
    }
    pub fn stacking_threshold_divisor(&self) -> u128 {
        self.spec.stacking_threshold_divisor
    }
    pub fn pox_version(&self) -> PoxVersion {
        self.spec.pox
    }

    pub fn coinbase_blocks_per_year(&self) -> u32 {
        self.spec.coinbase_blocks_per_year
    }

    /// A term's coinbase: SIP "Producer Rewards": "the coinbase reward is equal to 10 times the
    /// coinbase", one per burn block of the term, on Stacks 2.4's schedule
    /// ([`crate::coinbase::term_coinbase`]). Zero for a term beyond the height range.
    pub fn term_coinbase(&self, term: Term) -> MicroStx {
        crate::coinbase::term_coinbase(self, term).unwrap_or(MicroStx::ZERO)
    }

    /// Blocks of a cycle's reward phase.
    pub fn reward_phase_length(&self) -> u32 {
        self.spec.cycle_length - self.spec.prepare_length
    }

    /// PoX recipients paid per term: two per burn block, as SIP-007 paid them (SIP: "there
    /// are 20 PoX recipients, 2 per Bitcoin block").
    pub fn payouts_per_term(&self) -> u32 {
        2 * self.spec.term_length
    }

    /// Reward slots of a cycle: two per reward-phase block (4000 on mainnet), so the terms of a
    /// reward phase draw exactly the whole reward set.
    pub fn reward_slots(&self) -> u32 {
        // Cannot overflow: checked in `new`.
        2 * self.reward_phase_length()
    }

    /// Terms in a reward phase (200 on mainnet, 4 on regtest).
    pub fn reward_phase_terms(&self) -> u32 {
        self.reward_phase_length() / self.spec.term_length
    }

    fn offset(&self, h: BurnHeight) -> Result<u32, HeightError> {
        h.0.checked_sub(self.spec.first_burn_height.0)
            .ok_or(HeightError::BeforeFirstBurnHeight {
                height: h,
                first: self.spec.first_burn_height,
            })
    }

    /// `term(h) = (h - first_burn_height) / term_length`.
    pub fn term_of(&self, h: BurnHeight) -> Result<Term, HeightError> {
        Ok(Term(self.offset(h)? / self.spec.term_length))
    }

    /// `cycle(h) = (h - first_burn_height) / cycle_length`.
    pub fn cycle_of(&self, h: BurnHeight) -> Result<RewardCycle, HeightError> {
        Ok(RewardCycle(self.offset(h)? / self.spec.cycle_length))
    }

    /// The prepare phase is the last `prepare_length` blocks of a cycle.
    pub fn phase_of(&self, h: BurnHeight) -> Result<Phase, HeightError> {
        let pos = self.offset(h)? % self.spec.cycle_length;
        Ok(if pos < self.reward_phase_length() {
            Phase::Reward
        } else {
            Phase::Prepare
        })
    }

    /// Everything about a height at once.
    pub fn height_info(&self, h: BurnHeight) -> Result<HeightInfo, HeightError> {
        let off = self.offset(h)?;
        Ok(HeightInfo {
            height: h,
            term: Term(off / self.spec.term_length),
            position_in_term: off % self.spec.term_length,
            cycle: RewardCycle(off / self.spec.cycle_length),
            position_in_cycle: off % self.spec.cycle_length,
            phase: self.phase_of(h)?,
        })
    }

    /// The burn heights of a term, first to last.
    pub fn term_range(&self, term: Term) -> Result<HeightRange, HeightError> {
        let overflow = HeightError::TermOverflow(term);
        let start = term
            .0
            .checked_mul(self.spec.term_length)
            .and_then(|o| o.checked_add(self.spec.first_burn_height.0))
            .ok_or(overflow.clone())?;
        let end = start
            .checked_add(self.spec.term_length - 1)
            .ok_or(overflow)?;
        Ok(HeightRange {
            start: BurnHeight(start),
            end: BurnHeight(end),
        })
    }

    /// The burn heights of a reward cycle, first to last.
    pub fn cycle_range(&self, cycle: RewardCycle) -> Result<HeightRange, HeightError> {
        let overflow = HeightError::CycleOverflow(cycle);
        let start = cycle
            .0
            .checked_mul(self.spec.cycle_length)
            .and_then(|o| o.checked_add(self.spec.first_burn_height.0))
            .ok_or(overflow.clone())?;
        let end = start
            .checked_add(self.spec.cycle_length - 1)
            .ok_or(overflow)?;
        Ok(HeightRange {
            start: BurnHeight(start),
            end: BurnHeight(end),
        })
    }

    /// The first block of a cycle's prepare phase, where the next cycle's reward set is fixed.
    pub fn prepare_start(&self, cycle: RewardCycle) -> Result<HeightRange, HeightError> {
        let range = self.cycle_range(cycle)?;
        Ok(HeightRange {
            start: BurnHeight(range.start.0 + self.reward_phase_length()),
            end: range.end,
        })
    }

    /// SIP "Producer Set Selection": "The producer set selection for term N occurs during term
    /// N-2", so an enrollment mined at `h` (in term M) enrolls for term M + 2.
    pub fn enrollment_target(&self, h: BurnHeight) -> Result<Term, HeightError> {
        let term = self.term_of(h)?;
        term.checked_add(2).ok_or(HeightError::TermOverflow(term))
    }

    /// The burn blocks in which enrollments for `term` are mined: the blocks of term N-2.
    /// Terms 0 and 1 have none (protocol.md section 9: the first producer set is term 2's).
    pub fn enrollment_window(&self, term: Term) -> Result<HeightRange, HeightError> {
        let window = term
            .checked_sub(2)
            .ok_or(HeightError::NoEnrollmentWindow(term))?;
        self.term_range(window)
    }

    /// The burn block whose sortition hash seeds the tie-break shuffle of term N's producer set:
    /// the last block of term N-2, i.e. of its enrollment window (protocol.md section 5; the
    /// SIP samples term N-1's last block, which would leave no time for key generation).
    /// `None` for terms 0 and 1, which have no window (the shuffle then uses the genesis hash).
    pub fn tie_break_seed_height(&self, term: Term) -> Option<BurnHeight> {
        // Height ranges are closed: `end` is the window's last block.
        self.enrollment_window(term).ok().map(|w| w.end)
    }

    /// The term whose final announcement an enrollment for `term` references (SIP: an
    /// enrollment for term N names "the final announcement of term N-3"); `None` below term 3,
    /// when the reference is (0, 0).
    pub fn announcement_term_for_enrollment(&self, term: Term) -> Option<Term> {
        term.checked_sub(3)
    }

    /// The term whose first burn block is `h`, if `h` starts one.
    pub fn term_starting_at(&self, h: BurnHeight) -> Option<Term> {
        let term = self.term_of(h).ok()?;
        (self.term_range(term).ok()?.start == h).then_some(term)
    }

    /// The first term that can have a producer set (and so blocks): term 2, enrolled for in
    /// term 0 (protocol.md section 9).
    pub fn first_producer_term(&self) -> Term {
        Term(2)
    }

    /// The position of a reward-phase term within its cycle's reward phase (0-based), or
    /// `None` for a term in the prepare phase. Terms never straddle phases, so the term's first
    /// block decides.
    pub fn reward_term_index(&self, term: Term) -> Result<Option<u32>, HeightError> {
        let start = self.term_range(term)?.start;
        let pos = self.offset(start)? % self.spec.cycle_length;
        Ok((pos < self.reward_phase_length()).then(|| pos / self.spec.term_length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regtest() -> NetworkParams {
        NetworkParams::preset(Network::Regtest)
    }

    /// Step table: burn height -> the term it starts, if any; the first producer term has an
    /// enrollment window and its predecessor none.
    #[test]
    fn term_starts() {
        let r = regtest();
        for (h, t) in [
            (0, None),
            (1, Some(0)),
            (2, None),
            (10, None),
            (11, Some(1)),
            (21, Some(2)),
        ] {
            assert_eq!(r.term_starting_at(BurnHeight(h)), t.map(Term), "height {h}");
        }
        let first = r.first_producer_term();
        assert!(r.enrollment_window(first).is_ok());
        assert!(r.enrollment_window(Term(first.0 - 1)).is_err());
    }

    /// Step table: term -> (tie-break seed height, announcement term of its enrollments).
    #[test]
    fn tie_break_seed_and_announcement_terms() {
        let r = regtest();
        let f = r.first_burn_height().0;
        let steps = [
            (0, None, None),
            (1, None, None),
            // Term 2's window is term 0 (heights f..f+10): its last block seeds the shuffle.
            (2, Some(f + 9), None),
            (3, Some(f + 19), Some(0)),
            (7, Some(f + 59), Some(4)),
        ];
        for (term, seed, announced) in steps {
            assert_eq!(
                r.tie_break_seed_height(Term(term)),
                seed.map(BurnHeight),
                "term {term}"
            );
            assert_eq!(
                r.announcement_term_for_enrollment(Term(term)),
                announced.map(Term),
                "term {term}"
            );
        }
    }

    #[test]
    fn presets_validate_and_match_the_table() {
        for net in Network::ALL {
            let p = NetworkParams::new(ParamsSpec::preset(net)).unwrap();
            assert_eq!(p, NetworkParams::preset(net));
            assert_eq!(p.term_length(), 10);
            assert_eq!(p.payouts_per_term(), 20);
            assert_eq!(p.term_coinbase(Term(0)), MicroStx(10_000_000_000));
        }
        let m = NetworkParams::preset(Network::Mainnet);
        assert_eq!(
            (m.magic(), m.cycle_length(), m.prepare_length()),
            (*b"X2", 2100, 100)
        );
        assert_eq!(
            (m.reward_slots(), m.reward_phase_terms(), m.chain_id()),
            (4000, 200, 1)
        );
        let t = NetworkParams::preset(Network::Testnet);
        assert_eq!(
            (t.magic(), t.cycle_length(), t.prepare_length()),
            (*b"T2", 1050, 50)
        );
        assert_eq!((t.reward_slots(), t.chain_id()), (2000, 0x8000_0000));
        let r = regtest();
        assert_eq!(
            (r.magic(), r.cycle_length(), r.prepare_length()),
            (*b"id", 60, 20)
        );
        assert_eq!((r.reward_slots(), r.reward_phase_terms()), (80, 4));
    }

    #[test]
    fn validation_names_the_field() {
        let base = ParamsSpec::preset(Network::Regtest);
        let cases: Vec<(ParamsSpec, &str)> = vec![
            (ParamsSpec { term_length: 0, ..base.clone() }, "term_length must be at least 1"),
            (
                ParamsSpec { cycle_length: 65, ..base.clone() },
                "cycle_length 65 is not a positive multiple of term_length 10",
            ),
            (
                ParamsSpec { prepare_length: 15, ..base.clone() },
                "prepare_length 15 is not a positive multiple of term_length 10",
            ),
            (
                ParamsSpec { prepare_length: 0, ..base.clone() },
                "prepare_length 0 is not a positive multiple of term_length 10",
            ),
            (
                ParamsSpec { prepare_length: 60, ..base.clone() },
                "prepare_length 60 must be shorter than cycle_length 60",
            ),
            (
                ParamsSpec { producer_threshold: 101, ..base.clone() },
                "producer_threshold 101 must be between 1 and producer_signer_slots 100",
            ),
            (
                ParamsSpec { max_producers: 0, ..base.clone() },
                "max_producers 0 must be between 1 and producer_signer_slots 100",
            ),
            (
                ParamsSpec { keygen_deadline_burn_blocks: 0, ..base.clone() },
                "keygen_deadline_burn_blocks 0 must be between 1 and term_length 10",
            ),
            (
                ParamsSpec { keygen_deadline_burn_blocks: 11, ..base.clone() },
                "keygen_deadline_burn_blocks 11 must be between 1 and term_length 10",
            ),
            (
                ParamsSpec { first_burn_height: BurnHeight(0), ..base.clone() },
                "first_burn_height must be at least 1 (the payout seed of the first terms reads the block before it)",
            ),
        ];
        for (spec, msg) in cases {
            assert_eq!(NetworkParams::new(spec).unwrap_err().to_string(), msg);
        }
    }

    #[test]
    fn network_names_parse_and_unknown_is_named() {
        for net in Network::ALL {
            assert_eq!(net.as_str().parse::<Network>().unwrap(), net);
        }
        assert_eq!(
            "signet".parse::<Network>().unwrap_err().to_string(),
            "unknown network \"signet\": expected mainnet, testnet or regtest"
        );
    }

    // Step table over the regtest layout: first height 1, terms of 10, cycles of 60 with a
    // 20-block prepare phase (heights 41..=60 of cycle 0).
    #[test]
    fn height_info_table() {
        let p = regtest();
        let table = [
            // height, term, pos, cycle, pos in cycle, phase
            (1, 0, 0, 0, 0, Phase::Reward),
            (10, 0, 9, 0, 9, Phase::Reward),
            (11, 1, 0, 0, 10, Phase::Reward),
            (40, 3, 9, 0, 39, Phase::Reward),
            (41, 4, 0, 0, 40, Phase::Prepare),
            (60, 5, 9, 0, 59, Phase::Prepare),
            (61, 6, 0, 1, 0, Phase::Reward),
            (121, 12, 0, 2, 0, Phase::Reward),
        ];
        for (h, term, pos, cycle, cpos, phase) in table {
            let info = p.height_info(BurnHeight(h)).unwrap();
            assert_eq!(
                info,
                HeightInfo {
                    height: BurnHeight(h),
                    term: Term(term),
                    position_in_term: pos,
                    cycle: RewardCycle(cycle),
                    position_in_cycle: cpos,
                    phase,
                },
                "height {h}"
            );
        }
        assert_eq!(
            p.height_info(BurnHeight(0)).unwrap_err(),
            HeightError::BeforeFirstBurnHeight {
                height: BurnHeight(0),
                first: BurnHeight(1)
            }
        );
    }

    #[test]
    fn mainnet_phase_boundaries() {
        let p = NetworkParams::preset(Network::Mainnet);
        // Cycle 0 starts at 666050; its prepare phase at 666050 + 2000.
        assert_eq!(p.phase_of(BurnHeight(668_049)).unwrap(), Phase::Reward);
        assert_eq!(p.phase_of(BurnHeight(668_050)).unwrap(), Phase::Prepare);
        assert_eq!(p.cycle_of(BurnHeight(668_150)).unwrap(), RewardCycle(1));
        assert_eq!(
            p.prepare_start(RewardCycle(0)).unwrap(),
            HeightRange {
                start: BurnHeight(668_050),
                end: BurnHeight(668_149)
            }
        );
    }

    #[test]
    fn enrollment_windows() {
        let p = regtest();
        assert_eq!(p.enrollment_target(BurnHeight(1)).unwrap(), Term(2));
        assert_eq!(p.enrollment_target(BurnHeight(25)).unwrap(), Term(4));
        assert_eq!(
            p.enrollment_window(Term(4)).unwrap(),
            HeightRange {
                start: BurnHeight(21),
                end: BurnHeight(30)
            }
        );
        assert_eq!(
            p.enrollment_window(Term(1)).unwrap_err(),
            HeightError::NoEnrollmentWindow(Term(1))
        );
        assert_eq!(p.reward_term_index(Term(3)).unwrap(), Some(3));
        assert_eq!(p.reward_term_index(Term(4)).unwrap(), None);
        assert_eq!(p.reward_term_index(Term(6)).unwrap(), Some(0));
        assert_eq!(
            p.term_range(Term(u32::MAX)).unwrap_err(),
            HeightError::TermOverflow(Term(u32::MAX))
        );
    }

    #[test]
    fn every_term_lies_in_one_phase() {
        for net in Network::ALL {
            let p = NetworkParams::preset(net);
            for t in 0..(3 * p.cycle_length() / p.term_length()) {
                let r = p.term_range(Term(t)).unwrap();
                assert_eq!(p.phase_of(r.start).unwrap(), p.phase_of(r.end).unwrap());
                assert_eq!(p.term_of(r.end).unwrap(), Term(t));
            }
        }
    }
}
