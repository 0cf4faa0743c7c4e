//! `tandem-sim run SCENARIO [--seed N] [--json] [--report DIR]` and
//! `tandem-sim sweep SCENARIO --seeds N [--jobs J] [--json] [--report DIR]`.
//!
//! Exit status: 0 when every checker passed, 3 when one found a broken promise (safety,
//! liveness, conservation), 2 for a bad scenario or argument, 1 for anything else.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tandem_sim::{Report, Scenario, World};

#[derive(Parser)]
#[command(
    name = "tandem-sim",
    about = "Deterministic simulator of the Tandem consensus engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario file and prints what the chain did.
    Run {
        scenario: PathBuf,
        /// Overrides the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

fn print_text(r: &Report) {
    println!(
        "scenario {} seed {}: {} nodes, {} events, {} ms simulated",
        r.scenario, r.seed, r.nodes, r.events, r.sim_time_ms
    );
    for t in &r.terms {
        print!(
            "term {}: {} blocks, latency {} ms, signers per block {:.1} producers / {:.1} stackers",
            t.term, t.blocks, t.latency_ms, t.producer_signers, t.stacker_signers
        );
        if let Some(l) = &t.leader {
            print!(", leader {l} (election rounds {})", t.election_rounds);
        }
        if let Some(n) = &t.note {
            print!(" ({n})");
        }
        println!();
    }
    for p in &r.rewards {
        println!(
            "reward {}: coinbase {} uSTX, fees {} uSTX",
            p.producer, p.coinbase_ustx, p.fees_ustx
        );
    }
    println!(
        "chain height {}, dropped blocks {}, conflicting heights {}",
        r.chain_height, r.dropped_blocks, r.conflicting_heights
    );
    for b in &r.byzantine {
        println!(
            "byzantine {}: {} from term {}",
            b.node,
            b.kinds.join(", "),
            b.from_term
        );
    }
    if r.faults_committed > 0 {
        println!("faults committed {}", r.faults_committed);
    }
    let l = &r.links;
    if l.dropped + l.duplicated + l.delayed + l.partitioned > 0 {
        println!(
            "links: {} dropped, {} duplicated, {} delayed, {} lost to partitions",
            l.dropped, l.duplicated, l.delayed, l.partitioned
        );
    }
    for n in &r.checks.not_promised {
        println!("liveness not promised: {n}");
    }
    for (kind, list) in [
        ("safety", &r.checks.safety),
        ("liveness", &r.checks.liveness),
        ("conservation", &r.checks.conservation),
    ] {
        for f in list {
            println!("CHECK FAILED ({kind}): {f}");
        }
    }
    println!(
        "checks: {}",
        if r.checks.passed() {
            "passed"
        } else {
            "FAILED"
        }
    );
    println!("digest {}", r.digest);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            scenario,
            seed,
            json,
        } => {
            let text = match std::fs::read_to_string(&scenario) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", scenario.display());
                    return ExitCode::from(2);
                }
            };
            let mut s = match Scenario::parse(&text) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {}: {e}", scenario.display());
                    return ExitCode::from(2);
                }
            };
            if let Some(seed) = seed {
                s.seed = seed;
            }
            let report = match World::new(s) {
                Ok(w) => w.run(),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(j) => println!("{j}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print_text(&report);
            }
            // A broken promise is a finding: scripts and sweeps see it in the exit status.
            if report.checks.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
    }
}
