//! `tandem-sim run SCENARIO [--seed N] [--json] [--report DIR]` and
//! `tandem-sim sweep SCENARIO --seeds N [--jobs J] [--json] [--report DIR]`.
//!
//! Exit status: 0 when every checker passed, 3 when one found a broken promise (safety,
//! liveness, conservation), 2 for a bad scenario or argument, 1 for anything else.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use tandem_sim::sweep::{run_seeds, SweepSummary};
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
        /// Writes report.html (plots as SVG) and report.json into this directory.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// Prints every node machine's events to stderr as they happen (time, node, event).
        #[arg(long)]
        events: bool,
    },
    /// Runs a scenario over many seeds and summarises what the checkers found.
    Sweep {
        scenario: PathBuf,
        /// How many seeds to run.
        #[arg(long)]
        seeds: u64,
        /// The first seed (the scenario's own seed without it).
        #[arg(long)]
        first_seed: Option<u64>,
        /// Runs at once (each seed is one single-threaded run).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        #[arg(long)]
        json: bool,
        /// Writes report.html (plots over all seeds) and summary.json into this directory.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
    },
}

fn load(path: &std::path::Path) -> Result<Scenario, ExitCode> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        ExitCode::from(2)
    })?;
    Scenario::parse(&text).map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
        ExitCode::from(2)
    })
}

/// Prints a value as pretty JSON on stdout (exit status 1 when it does not serialise).
fn print_json<T: serde::Serialize>(v: &T) -> Result<(), ExitCode> {
    match serde_json::to_string_pretty(v) {
        Ok(j) => {
            println!("{j}");
            Ok(())
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(1))
        }
    }
}

fn print_summary(s: &SweepSummary) {
    println!(
        "sweep {}: {} seeds from {}",
        s.scenario, s.seeds, s.first_seed
    );
    println!(
        "forks {}, liveness failures {}, conservation failures {}, terms without a liveness promise {}",
        s.forks, s.liveness_failures, s.conservation_failures, s.not_promised_terms
    );
    println!(
        "blocks per term: min {}, median {}, max {}",
        s.blocks_per_term.min, s.blocks_per_term.median, s.blocks_per_term.max
    );
    println!(
        "latency p50 {} ms, p99 {} ms; faults committed {}",
        s.latency_p50_ms, s.latency_p99_ms, s.faults_committed
    );
    println!("latency breakdown (median ms): {}", s.latency_breakdown);
    for f in &s.failing {
        println!("FAILING seed {}: {}", f.seed, f.failures.join("; "));
        println!("  reproduce: {}", f.reproduce);
    }
    println!(
        "checks: {}",
        if s.passed() {
            "passed on every seed".to_string()
        } else {
            format!("FAILED on {} seeds", s.failing.len())
        }
    );
}

fn sweep(
    scenario_path: &std::path::Path,
    seeds: u64,
    first_seed: Option<u64>,
    jobs: usize,
    json: bool,
    report: Option<PathBuf>,
) -> ExitCode {
    let s = match load(scenario_path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if seeds == 0 || jobs == 0 {
        eprintln!("error: --seeds and --jobs must be at least 1");
        return ExitCode::from(2);
    }
    let first = first_seed.unwrap_or(s.seed);
    let started = std::time::Instant::now();
    // A bar on a terminal; plain lines (about twenty) otherwise.
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(seeds);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} seeds, {msg} (eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    });
    let step = (seeds / 20).max(1);
    let reports = run_seeds(&s, first, seeds, jobs, |done, failing| match &bar {
        Some(b) => {
            b.set_position(done);
            b.set_message(format!("{failing} failing"));
        }
        None if done % step == 0 || done == seeds => eprintln!(
            "sweep: {done}/{seeds} seeds, {failing} failing, {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        None => {}
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let path = scenario_path.display().to_string();
    let summary = SweepSummary::of(&path, &reports);
    if let Some(dir) = report {
        if let Err(e) = tandem_sim::html::write_sweep(&dir, &summary, &reports) {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
        eprintln!("report: {}", dir.join("report.html").display());
    }
    if json {
        if let Err(code) = print_json(&summary) {
            return code;
        }
    } else {
        print_summary(&summary);
        println!(
            "wall {:.1} s with {jobs} jobs",
            started.elapsed().as_secs_f64()
        );
    }
    if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
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
    println!("latency breakdown (median ms): {}", r.latency_breakdown);
    println!(
        "chain height {}, dropped blocks {}, conflicting heights {}",
        r.chain_height, r.dropped_blocks, r.conflicting_heights
    );
    let b = &r.bitcoin;
    if b.stacks_ops_sent > 0 {
        println!(
            "stacks operations on bitcoin: {} sent (pre-stx and transfer-stx), {} applied, {} without effect",
            b.stacks_ops_sent, b.stacks_ops_applied, b.stacks_ops_failed
        );
    }
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
    if r.producer_retries > 0 {
        println!(
            "producer retries {} (fresh attempts at a height)",
            r.producer_retries
        );
    }
    let l = &r.links;
    if l.dropped + l.duplicated + l.delayed + l.partitioned + l.split_chunks > 0 {
        println!(
            "links: {} dropped, {} duplicated, {} delayed, {} lost to partitions, {} chunks split in two",
            l.dropped, l.duplicated, l.delayed, l.partitioned, l.split_chunks
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
        Command::Sweep {
            scenario,
            seeds,
            first_seed,
            jobs,
            json,
            report,
        } => sweep(&scenario, seeds, first_seed, jobs, json, report),
        Command::Run {
            scenario,
            seed,
            json,
            report: report_dir,
            events,
        } => {
            let mut s = match load(&scenario) {
                Ok(s) => s,
                Err(code) => return code,
            };
            if let Some(seed) = seed {
                s.seed = seed;
            }
            let mut world = match World::new(s) {
                Ok(w) if events => w.print_events(),
                Ok(w) => w,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            let report = world.run_in_place();
            // The process ends after the report: freeing every node's state first would only
            // cost time (about 0.1 s for the small scenario).
            std::mem::forget(world);
            if let Some(dir) = report_dir {
                if let Err(e) = tandem_sim::html::write_run(&dir, &report) {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
                eprintln!("report: {}", dir.join("report.html").display());
            }
            if json {
                if let Err(code) = print_json(&report) {
                    return code;
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
