//! What the devnet shows and reports: it asks its nodes' APIs (nothing else) where they stand,
//! follows one observer's chain block by block, and keeps per-term figures.

use super::plan::{NodePlan, Role};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One both-signed block as the observer holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockRow {
    pub height: u64,
    pub id: String,
    pub term: u64,
    pub producer_signers: usize,
    /// The producer signers' weight: signer slots of the term's 100 (>= 67 for a valid block).
    pub producer_weight: Option<u64>,
    pub stacker_signers: usize,
    pub latency_ms: Option<u64>,
}

/// Where one node stands.
#[derive(Clone, Debug, Default)]
pub struct NodeStatus {
    pub alive: bool,
    pub rpc: Option<String>,
    pub burn_block_height: Option<u64>,
    pub burn_block_hash: Option<String>,
    pub stacks_tip_height: Option<u64>,
    pub stacks_tip: Option<String>,
    pub term: Option<u64>,
}

pub struct Monitor {
    launched: Instant,
    pub first_block_ms: Option<u64>,
    /// The observer's chain, by height.
    pub blocks: BTreeMap<u64, BlockRow>,
    pub nodes: Vec<NodeStatus>,
    /// When the observer first stood in each term, and when it first held a block of it.
    term_seen_ms: BTreeMap<u64, u64>,
    term_first_block_ms: BTreeMap<u64, u64>,
    /// Each finished term's line, as shown.
    pub term_lines: Vec<String>,
    last_term: Option<u64>,
    /// What happened on request or by a fault (kills, restarts, reorgs), with its time.
    pub timeline: Vec<(u64, String)>,
    /// Each term's member weights (by party id - 1), as the observer's `/v3/terms` gave them.
    weights: BTreeMap<u64, Vec<u64>>,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(1_500))
        .build()
}

fn get(agent: &ureq::Agent, addr: &str, path: &str) -> Option<Value> {
    agent
        .get(&format!("http://{addr}{path}"))
        .call()
        .ok()?
        .into_json()
        .ok()
}

impl Monitor {
    pub fn new(nodes: usize) -> Monitor {
        Monitor {
            launched: Instant::now(),
            first_block_ms: None,
            blocks: BTreeMap::new(),
            nodes: vec![NodeStatus::default(); nodes],
            term_seen_ms: BTreeMap::new(),
            term_first_block_ms: BTreeMap::new(),
            term_lines: Vec::new(),
            last_term: None,
            timeline: Vec::new(),
            weights: BTreeMap::new(),
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.launched.elapsed().as_millis() as u64
    }

    pub fn note(&mut self, what: String) {
        let t = self.elapsed_ms();
        self.timeline.push((t, what));
    }

    /// The node whose chain is followed: the first producer that answers, else any node.
    pub fn observer(&self, plans: &[NodePlan]) -> Option<usize> {
        let answering = |i: &usize| self.nodes[*i].alive && self.nodes[*i].rpc.is_some();
        (0..plans.len())
            .filter(|i| plans[*i].role == Role::Producer)
            .find(answering)
            .or_else(|| (0..plans.len()).find(answering))
    }

    /// Asks every node where it stands and follows the observer's chain. Returns the lines of
    /// terms that finished since the last poll.
    pub fn poll(
        &mut self,
        plans: &[NodePlan],
        rpc: &[Option<String>],
        alive: &[bool],
    ) -> Vec<String> {
        let agent = agent();
        for (i, status) in self.nodes.iter_mut().enumerate() {
            status.rpc = rpc[i].clone();
            status.alive = alive[i];
            let info = match (&rpc[i], alive[i]) {
                (Some(addr), true) => get(&agent, addr, "/v2/info"),
                _ => None,
            };
            match info {
                Some(v) => {
                    status.burn_block_height = v["burn_block_height"].as_u64();
                    status.burn_block_hash = v["burn_block_hash"].as_str().map(String::from);
                    status.stacks_tip_height = v["stacks_tip_height"].as_u64();
                    status.stacks_tip = v["stacks_tip"].as_str().map(String::from);
                    status.term = v["term"].as_u64();
                }
                None => status.alive = false,
            }
        }
        let Some(o) = self.observer(plans) else {
            return Vec::new();
        };
        let Some(addr) = self.nodes[o].rpc.clone() else {
            return Vec::new();
        };
        let now = self.elapsed_ms();
        let tip = self.nodes[o].stacks_tip_height.unwrap_or(0);
        // Blocks dropped at a term start (unannounced) leave the chain.
        self.blocks.retain(|h, _| *h <= tip);
        // Fetch what is new, and re-fetch from the tip down while ids disagree (a height can
        // hold another block after a term start dropped the first).
        let mut h = tip;
        while h >= 1 {
            let known = self.blocks.get(&h).map(|r| r.id.clone());
            let want_check = h == tip;
            if known.is_some() && !want_check {
                break;
            }
            let Some(b) = get(&agent, &addr, &format!("/v3/blocks/{h}")) else {
                break;
            };
            let id = b["id"].as_str().unwrap_or_default().to_string();
            if known.as_deref() == Some(id.as_str()) {
                break;
            }
            let term = b["term"].as_u64().unwrap_or(0);
            if let std::collections::btree_map::Entry::Vacant(slot) = self.weights.entry(term) {
                if let Some(t) = get(&agent, &addr, &format!("/v3/terms/{term}")) {
                    slot.insert(
                        t["members"]
                            .as_array()
                            .map(|m| {
                                m.iter()
                                    .map(|x| x["weight"].as_u64().unwrap_or(0))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    );
                }
            }
            let producer_weight = match (b["producer_signers"].as_array(), self.weights.get(&term))
            {
                (Some(parties), Some(w)) => Some(
                    parties
                        .iter()
                        .filter_map(|p| w.get((p.as_u64()? as usize).checked_sub(1)?).copied())
                        .sum(),
                ),
                _ => None,
            };
            let row = BlockRow {
                height: h,
                id,
                term,
                producer_weight,
                producer_signers: b["producer_signers"].as_array().map_or(0, Vec::len),
                stacker_signers: b["stacker_signers"].as_array().map_or(0, Vec::len),
                latency_ms: b["latency_ms"].as_u64(),
            };
            self.term_first_block_ms.entry(row.term).or_insert(now);
            self.blocks.insert(h, row);
            if self.first_block_ms.is_none() {
                self.first_block_ms = Some(now);
            }
            h -= 1;
        }
        let mut lines = Vec::new();
        if let Some(term) = self.nodes[o].term {
            self.term_seen_ms.entry(term).or_insert(now);
            if let Some(last) = self.last_term.filter(|l| *l < term) {
                let leader = get(&agent, &addr, &format!("/v3/terms/{last}"));
                let line = self.term_line(last, leader.as_ref(), plans);
                self.term_lines.push(line.clone());
                lines.push(line);
            }
            self.last_term = Some(term);
        }
        lines
    }

    /// One line per finished term: blocks, signers per block, leader, latency.
    fn term_line(&self, term: u64, info: Option<&Value>, plans: &[NodePlan]) -> String {
        let rows: Vec<&BlockRow> = self.blocks.values().filter(|r| r.term == term).collect();
        if info.is_none() && rows.is_empty() {
            return format!("term {term}: no producer set (the network is booting)");
        }
        let leader = info.and_then(|t| {
            let party = t["leader"]["party"].as_u64()? as usize;
            let key = t["members"].get(party.checked_sub(1)?)?["public_key"].as_str()?;
            let name = plans
                .iter()
                .find(|p| hex::encode(p.public.serialize()) == key)
                .map_or_else(|| format!("party {party}"), |p| p.name.clone());
            Some(format!("{name} (round {})", t["leader"]["round"]))
        });
        let signers: Vec<String> = rows
            .iter()
            .map(|r| format!("{}/{}", r.producer_signers, r.stacker_signers))
            .collect();
        let mut lat: Vec<u64> = rows.iter().filter_map(|r| r.latency_ms).collect();
        lat.sort_unstable();
        let burn = self
            .nodes
            .iter()
            .find_map(|n| n.burn_block_height)
            .unwrap_or(0);
        format!(
            "term {term}: {} block(s), leader {}, signers producer/stacker per block [{}], latency p50 {}, burn height now {burn}",
            rows.len(),
            leader.unwrap_or_else(|| "-".into()),
            signers.join(" "),
            lat.get(lat.len() / 2)
                .map_or_else(|| "-".to_string(), |l| format!("{l} ms")),
        )
    }

    /// Time from the observer first standing in a term to its first block of that term.
    pub fn term_start_delays(&self) -> BTreeMap<u64, u64> {
        self.term_first_block_ms
            .iter()
            .filter_map(|(t, b)| {
                let seen = self.term_seen_ms.get(t)?;
                Some((*t, b.saturating_sub(*seen)))
            })
            .collect()
    }

    /// The summary (`--json`, and `tandem devnet status --json`).
    pub fn summary(&self, plans: &[NodePlan], extra: Value) -> Value {
        let mut lat: Vec<u64> = self.blocks.values().filter_map(|r| r.latency_ms).collect();
        lat.sort_unstable();
        let pct = |p: usize| lat.get(lat.len().saturating_sub(1) * p / 100).copied();
        json!({
            "first_block_ms": self.first_block_ms,
            "elapsed_ms": self.elapsed_ms(),
            "blocks": self.blocks.values().map(|r| json!({
                "height": r.height,
                "id": r.id,
                "term": r.term,
                "producer_signers": r.producer_signers,
                "producer_weight": r.producer_weight,
                "stacker_signers": r.stacker_signers,
                "latency_ms": r.latency_ms,
            })).collect::<Vec<_>>(),
            "latency_ms": {"p50": pct(50), "p90": pct(90), "max": lat.last()},
            "term_start_delay_ms": self.term_start_delays(),
            "terms": self.term_lines,
            "timeline": self.timeline.iter().map(|(t, w)| json!({"ms": t, "event": w})).collect::<Vec<_>>(),
            "nodes": plans.iter().zip(&self.nodes).map(|(p, s)| json!({
                "name": p.name,
                "role": p.role.as_str(),
                "public_key": hex::encode(p.public.serialize()),
                "bitcoin_address": p.bitcoin_address().to_string(),
                "stacks_address": p.stacks_address(),
                "p2p": format!("127.0.0.1:{}", p.p2p_port),
                "rpc": s.rpc.as_ref().map(|a| format!("http://{a}")),
                "alive": s.alive,
                "burn_block_height": s.burn_block_height,
                "burn_block_hash": s.burn_block_hash,
                "stacks_tip_height": s.stacks_tip_height,
                "stacks_tip": s.stacks_tip,
                "term": s.term,
                "dir": p.dir.display().to_string(),
            })).collect::<Vec<_>>(),
            "devnet": extra,
        })
    }
}
