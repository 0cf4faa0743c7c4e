//! `tandem calc`: the term, slot, draw, reward and payout calculators.

use crate::args::{address, hex_array, named_pairs, outpoint, ranges, spends};
use crate::cli::{Calc, PayoutTxArgs, ProducerArgs};
use crate::error::{arg, CliError};
use crate::output::{render, Report};
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::secp256k1::PublicKey;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::fmt::Write as _;
use tandem_burnchain::payout::{
    build_enrollment_tx, payout_shape, CyclePayouts, EnrollmentTxSpec, PayoutShape,
};
use tandem_burnchain::{Enrollment, ExpectedPayout};
use tandem_consensus::producer_set::{select, Candidate, ProducerSet};
use tandem_consensus::rewards::{coinbase_split, fee_split};
use tandem_consensus::{
    BurnHeight, HeightRange, MicroStx, Network, NetworkParams, ParamsSpec, Phase, RewardCycle,
    Sats, SortitionHash, Term,
};

/// The largest reward set `calc draw` accepts (mainnet cycles have 4,000 entries).
pub const MAX_DRAW_ENTRIES: u32 = 1_000_000;

pub fn run(calc: Calc) -> Result<String, CliError> {
    match calc {
        Calc::Term { at, format } => render(
            &term(at.height, at.network.network, at.first_burn_height)?,
            format.json,
        ),
        Calc::Slots { producers, format } => render(&slots(&producers)?, format.json),
        Calc::Draw {
            seed,
            entries,
            count,
            format,
        } => render(&draw(&seed, entries, count)?, format.json),
        Calc::Coinbase { at, format } => render(
            &coinbase_at(at.height, at.network.network, at.first_burn_height)?,
            format.json,
        ),
        Calc::Rewards {
            producers,
            coinbase,
            height,
            network,
            fees,
            signers,
            format,
        } => {
            let amount = match (coinbase, height) {
                (Some(c), _) => c,
                (None, Some(h)) => coinbase_at(h, network.network, None)?.term_coinbase.0,
                (None, None) => return Err(arg("--coinbase or --height is required")),
            };
            render(&rewards(&producers, amount, fees, &signers)?, format.json)
        }
        Calc::PayoutTx(args) => {
            let json = args.format.json;
            render(&payout_tx(args)?, json)
        }
        Calc::RewardSet {
            stackers,
            liquid,
            network,
            format,
        } => render(
            &crate::reward_set::reward_set(&stackers, liquid, network.network)?,
            format.json,
        ),
    }
}

// ---------------------------------------------------------------- coinbase

#[derive(Serialize)]
pub struct CoinbaseReport {
    network: Network,
    first_burn_height: BurnHeight,
    #[serde(flatten)]
    at: tandem_consensus::coinbase::CoinbaseAt,
    term: Term,
    term_blocks: HeightRange,
    /// The term's coinbase: the schedule summed over its burn blocks.
    term_coinbase: MicroStx,
}

fn coinbase_at(
    height: u32,
    network: Network,
    first: Option<u32>,
) -> Result<CoinbaseReport, CliError> {
    let p = params_for(network, first)?;
    let h = BurnHeight(height);
    let term = p.term_of(h)?;
    Ok(CoinbaseReport {
        network,
        first_burn_height: p.first_burn_height(),
        at: tandem_consensus::coinbase::at(&p, h),
        term,
        term_blocks: p.term_range(term)?,
        term_coinbase: tandem_consensus::coinbase::term_coinbase(&p, term)?,
    })
}

impl Report for CoinbaseReport {
    fn text(&self) -> String {
        let stx = |m: MicroStx| format!("{}.{:06} STX", m.0 / 1_000_000, m.0 % 1_000_000);
        let years = |step: u32| match step {
            0 => "years 0-4",
            1 => "years 4-8",
            2 => "years 8-12",
            _ => "year 12 on",
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "network            {} (first burn height {})",
            self.network, self.first_burn_height
        );
        let _ = writeln!(
            s,
            "burn height        {} (effective height {}, {})",
            self.at.height,
            self.at.effective_height,
            years(self.at.step)
        );
        let _ = writeln!(s, "coinbase per block {}", stx(self.at.per_block));
        match self.at.next_step_at {
            Some(n) => {
                let _ = writeln!(s, "next step at       {n}");
            }
            None => s.push_str("next step at       none (the last step lasts forever)\n"),
        }
        let _ = writeln!(
            s,
            "term coinbase      {} (term {}, blocks {}..={})",
            stx(self.term_coinbase),
            self.term,
            self.term_blocks.start,
            self.term_blocks.end
        );
        s
    }
}

// ---------------------------------------------------------------- term

#[derive(Serialize)]
pub struct TermReport {
    network: Network,
    height: BurnHeight,
    first_burn_height: BurnHeight,
    term: Term,
    position_in_term: u32,
    term_blocks: HeightRange,
    reward_cycle: RewardCycle,
    position_in_cycle: u32,
    phase: Phase,
    /// Enrollments mined at this height.
    enrollments: EnrollmentInfo,
    /// The producer set that takes office at the next term boundary.
    next_set: NextSet,
}

#[derive(Serialize)]
struct EnrollmentInfo {
    for_term: Term,
    /// The window in which enrollments for `for_term` are mined: this term's blocks.
    window: HeightRange,
    /// "pox" in a reward phase (while the cycle's reward set has entries left), else "burn".
    payout: &'static str,
    /// Which of the cycle's reward-phase draws pays these enrollments (0-based), if any.
    draw_index: Option<u32>,
    draws_per_cycle: u32,
}

#[derive(Serialize)]
struct NextSet {
    term: Term,
    /// `None` for terms 0 and 1, which no enrollment window selects.
    enrollment_window: Option<HeightRange>,
}

/// A network's parameters, its first burn height overridden when given.
fn params_for(network: Network, first: Option<u32>) -> Result<NetworkParams, CliError> {
    let mut spec = ParamsSpec::preset(network);
    if let Some(f) = first {
        spec.first_burn_height = BurnHeight(f);
    }
    Ok(NetworkParams::new(spec)?)
}

fn term(height: u32, network: Network, first: Option<u32>) -> Result<TermReport, CliError> {
    let p = params_for(network, first)?;
    let h = BurnHeight(height);
    let info = p.height_info(h)?;
    let for_term = p.enrollment_target(h)?;
    let next = info
        .term
        .checked_add(1)
        .ok_or(tandem_consensus::HeightError::TermOverflow(info.term))?;
    let draw_index = p.reward_term_index(info.term)?;
    Ok(TermReport {
        network,
        height: h,
        first_burn_height: p.first_burn_height(),
        term: info.term,
        position_in_term: info.position_in_term,
        term_blocks: p.term_range(info.term)?,
        reward_cycle: info.cycle,
        position_in_cycle: info.position_in_cycle,
        phase: info.phase,
        enrollments: EnrollmentInfo {
            for_term,
            window: p.enrollment_window(for_term)?,
            payout: if draw_index.is_some() { "pox" } else { "burn" },
            draw_index,
            draws_per_cycle: p.reward_phase_terms(),
        },
        next_set: NextSet {
            term: next,
            enrollment_window: p.enrollment_window(next).ok(),
        },
    })
}

impl Report for TermReport {
    fn text(&self) -> String {
        let r = |h: &HeightRange| format!("{}..={}", h.start, h.end);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "network            {} (first burn height {})",
            self.network, self.first_burn_height
        );
        let _ = writeln!(s, "burn height        {}", self.height);
        let _ = writeln!(
            s,
            "term               {} (block {} of {}, blocks {})",
            self.term,
            self.position_in_term + 1,
            self.term_blocks.end.0 - self.term_blocks.start.0 + 1,
            r(&self.term_blocks)
        );
        let _ = writeln!(
            s,
            "reward cycle       {} (position {})",
            self.reward_cycle, self.position_in_cycle
        );
        let _ = writeln!(s, "phase              {}", self.phase);
        let e = &self.enrollments;
        let _ = writeln!(
            s,
            "enrollments here   for term {}, window {}",
            e.for_term,
            r(&e.window)
        );
        let payout = match e.draw_index {
            Some(i) => format!(
                "pox: draw {} of {} in this cycle (burn once the reward set is used up)",
                i + 1,
                e.draws_per_cycle
            ),
            None => "burn: the window is in the prepare phase".to_string(),
        };
        let _ = writeln!(s, "payout             {payout}");
        let window = self
            .next_set
            .enrollment_window
            .as_ref()
            .map(r)
            .unwrap_or_else(|| "none (no producer set)".into());
        let _ = writeln!(
            s,
            "next set           term {}, enrolled in {}",
            self.next_set.term, window
        );
        s
    }
}

// ---------------------------------------------------------------- producers

fn producer_set(p: &ProducerArgs) -> Result<ProducerSet<String>, CliError> {
    let spends = spends(&p.spends)?;
    let txids = named_pairs("--txid", &p.txids)?;
    let mut candidates: Vec<Candidate<String>> = spends
        .into_iter()
        .map(|(id, spend)| Candidate {
            id,
            spend,
            last_txid: [0; 32],
        })
        .collect();
    for (name, hex) in txids {
        let c = candidates
            .iter_mut()
            .find(|c| c.id == name)
            .ok_or_else(|| arg(format!("--txid {name}: no --spend names that producer")))?;
        c.last_txid = hex_array::<32>(&format!("--txid {name}"), &hex)?;
    }
    let seed = match &p.seed {
        Some(s) => SortitionHash(hex_array::<32>("--seed", s)?),
        None => SortitionHash::GENESIS,
    };
    let params = NetworkParams::preset(Network::Regtest);
    Ok(select(
        &candidates,
        &seed,
        params.producer_signer_slots(),
        params.max_producers(),
    )?)
}

#[derive(Serialize)]
pub struct SlotsReport {
    signer_slots: u32,
    threshold: u32,
    total_spend: Sats,
    producers: Vec<ProducerSlots>,
}

#[derive(Serialize)]
struct ProducerSlots {
    name: String,
    spend: Sats,
    weight: u32,
    signer_ids: Vec<u32>,
    db_slots: Vec<u32>,
    proposal_slot: u32,
}

fn slots(p: &ProducerArgs) -> Result<SlotsReport, CliError> {
    let set = producer_set(p)?;
    let params = NetworkParams::preset(Network::Regtest);
    Ok(SlotsReport {
        signer_slots: set.signer_slots,
        threshold: params.producer_threshold(),
        total_spend: set.total_spend(),
        producers: set
            .members
            .iter()
            .map(|m| ProducerSlots {
                name: m.id.clone(),
                spend: m.spend,
                weight: m.weight,
                signer_ids: m.signer_ids.iter().map(|s| s.0).collect(),
                db_slots: m.db_slots(set.signer_slots).iter().map(|s| s.0).collect(),
                proposal_slot: m.proposal_slot.0,
            })
            .collect(),
    })
}

impl Report for SlotsReport {
    fn text(&self) -> String {
        let mut s = format!(
            "{} producers, total spend {} sats, {} signer slots, threshold {}\n",
            self.producers.len(),
            self.total_spend.0,
            self.signer_slots,
            self.threshold
        );
        for p in &self.producers {
            let _ = writeln!(
                s,
                "\n{}: spend {} sats, weight {}",
                p.name, p.spend.0, p.weight
            );
            let _ = writeln!(s, "  signer ids     {}", ranges(&p.signer_ids));
            let _ = writeln!(s, "  db slots       {}", ranges(&p.db_slots));
            let _ = writeln!(s, "  proposal slot  {}", p.proposal_slot);
        }
        s
    }
}

// ---------------------------------------------------------------- draw

#[derive(Serialize)]
pub struct DrawReport {
    chosen: Vec<usize>,
    remaining: Vec<usize>,
}

fn draw(seed: &str, entries: u32, count: u32) -> Result<DrawReport, CliError> {
    let seed = hex_array::<32>("--seed", seed)?;
    if entries > MAX_DRAW_ENTRIES {
        return Err(arg(format!(
            "--entries {entries}: at most {MAX_DRAW_ENTRIES}"
        )));
    }
    // The same code path the chain follower uses for a term's draw, over entry indices.
    let mut cycle = CyclePayouts::new((0..entries as usize).collect());
    let chosen = cycle.draw_term(seed, count as usize);
    Ok(DrawReport {
        chosen,
        remaining: cycle.remaining().to_vec(),
    })
}

impl Report for DrawReport {
    fn text(&self) -> String {
        let list = |v: &[usize]| {
            v.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let left: Vec<u32> = self.remaining.iter().map(|&i| i as u32).collect();
        format!(
            "chosen ({})     {}\nremaining ({})  {}\n",
            self.chosen.len(),
            list(&self.chosen),
            self.remaining.len(),
            ranges(&left)
        )
    }
}

// ---------------------------------------------------------------- rewards

/// Name -> micro-STX, serialized as a JSON object in tie-break order.
pub struct Payouts(Vec<(String, MicroStx)>);

impl Serialize for Payouts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, &v.0)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
pub struct RewardsReport {
    coinbase: Payouts,
    fees: Payouts,
}

fn rewards(
    p: &ProducerArgs,
    coinbase: u128,
    fees: Option<u128>,
    signers: &[String],
) -> Result<RewardsReport, CliError> {
    let set = producer_set(p)?;
    let all: Vec<(String, Sats)> = set
        .members
        .iter()
        .map(|m| (m.id.clone(), m.spend))
        .collect();
    let cb = coinbase_split(MicroStx(coinbase), &all)?;
    let fee_parts = match fees {
        None => Vec::new(),
        Some(f) => {
            for name in signers {
                if !all.iter().any(|(n, _)| n == name) {
                    return Err(arg(format!(
                        "--signers {name}: not a member of the producer set"
                    )));
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            if let Some(dup) = signers.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(arg(format!("--signers {dup}: named twice")));
            }
            // Tie-break order, whatever order the signers were listed in.
            let marked: Vec<(String, Sats)> = all
                .iter()
                .filter(|(n, _)| signers.contains(n))
                .cloned()
                .collect();
            fee_split(MicroStx(f), &marked)?
        }
    };
    Ok(RewardsReport {
        coinbase: Payouts(cb),
        fees: Payouts(fee_parts),
    })
}

impl Report for RewardsReport {
    fn text(&self) -> String {
        let mut s = String::from("coinbase (whole set, pro rata by spend)\n");
        for (n, v) in &self.coinbase.0 {
            let _ = writeln!(s, "  {n:<16} {:>24} uSTX", v.0);
        }
        if !self.fees.0.is_empty() {
            s.push_str("fees (signers only, pro rata by spend)\n");
            for (n, v) in &self.fees.0 {
                let _ = writeln!(s, "  {n:<16} {:>24} uSTX", v.0);
            }
        }
        s
    }
}

// ---------------------------------------------------------------- payout-tx

#[derive(Serialize)]
pub struct PayoutTxReport {
    form: &'static str,
    payout_outputs: usize,
    outputs: usize,
    per_output: Option<Sats>,
    spend: Sats,
    txid: String,
    hex: String,
}

fn payout_tx(a: PayoutTxArgs) -> Result<PayoutTxReport, CliError> {
    let network = a.network.network;
    let params = NetworkParams::preset(network);
    let per_term = params.payouts_per_term() as usize;
    if a.recipients.len() > per_term {
        return Err(arg(format!(
            "--recipient given {} times: a term pays at most {per_term} recipients",
            a.recipients.len()
        )));
    }
    let recipients = a
        .recipients
        .iter()
        .map(|r| address("--recipient", r, network))
        .collect::<Result<Vec<_>, _>>()?;
    let key = hex_array::<33>("--signing-key", &a.signing_key)?;
    let signing_pubkey = PublicKey::from_slice(&key).map_err(|e| {
        arg(format!(
            "--signing-key: not a valid compressed secp256k1 public key ({e})"
        ))
    })?;
    let state_root = match &a.state_root {
        Some(h) => hex_array::<32>("--state-root", h)?,
        None => [0; 32],
    };
    let change = match &a.change {
        None => None,
        Some(c) => {
            let (addr, sats) = c
                .rsplit_once(':')
                .ok_or_else(|| arg(format!("--change expects ADDR:SATS, got {c:?}")))?;
            let sats: u64 = sats.parse().map_err(|_| {
                arg(format!(
                    "--change {c}: amount must be a whole number of sats"
                ))
            })?;
            Some((address("--change", addr, network)?, Sats(sats)))
        }
    };
    let spec = EnrollmentTxSpec {
        magic: params.magic(),
        enrollment: Enrollment {
            set_block: BurnHeight(a.set_block),
            set_txoff: a.set_txoff,
            key_block: BurnHeight(a.key_block),
            key_txoff: a.key_txoff,
            signing_pubkey,
            state_root: tandem_consensus::StateRoot(state_root),
        },
        inputs: a
            .inputs
            .iter()
            .map(|i| outpoint(i))
            .collect::<Result<_, _>>()?,
        payout: ExpectedPayout::from_draw(&recipients, per_term),
        spend: Sats(a.spend),
        change,
    };
    let tx = build_enrollment_tx(&spec)?;
    let (form, per_output) = match payout_shape(&tx, per_term)? {
        PayoutShape::Pox { per_output, .. } => ("pox", Some(per_output)),
        PayoutShape::Burn { .. } => ("burn", None),
    };
    Ok(PayoutTxReport {
        form,
        payout_outputs: if per_output.is_some() { per_term } else { 1 },
        outputs: tx.output.len(),
        per_output,
        spend: Sats(a.spend),
        txid: tx.compute_txid().to_string(),
        hex: serialize_hex(&tx),
    })
}

impl Report for PayoutTxReport {
    fn text(&self) -> String {
        let form = match self.per_output {
            Some(each) => format!("pox, {} outputs of {} sats", self.payout_outputs, each.0),
            None => "burn".to_string(),
        };
        format!(
            "form     {form}\noutputs  {}\nspend    {} sats\ntxid     {} (unsigned)\nhex      {}\n",
            self.outputs, self.spend.0, self.txid, self.hex
        )
    }
}
