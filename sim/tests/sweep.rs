//! `tandem-sim sweep` and `--report`: summaries that do not depend on the number of jobs,
//! failing seeds with a command that reproduces them, report pages with their plots, and (in
//! release mode, ignored by default) the 200-seed byzantine sweep of the issue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use tandem_sim::sweep::{run_seeds, SweepSummary};
use tandem_sim::Scenario;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tandem-sim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// Every producer's clock a hundred times slow: honest but stalled, so liveness fails.
fn stalled() -> String {
    let mut text = include_str!("../scenarios/tiny.toml").to_string();
    for p in ["p0", "p1", "p2", "p3"] {
        text.push_str(&format!(
            "\n[[faults.clock]]\nnode = \"{p}\"\nrate = 100.0\n"
        ));
    }
    text
}

#[test]
fn a_sweep_summary_does_not_depend_on_the_jobs() {
    let s = Scenario::parse(include_str!(
        "../scenarios/faults/p4s4-byzantine-mixed.toml"
    ))
    .unwrap();
    let one = run_seeds(&s, 7, 3, 1, |_, _| {});
    let two = run_seeds(&s, 7, 3, 2, |_, _| {});
    assert_eq!(one, two);
    assert_eq!(
        one.iter().map(|r| r.seed).collect::<Vec<_>>(),
        vec![7, 8, 9]
    );
    let summary = SweepSummary::of("x.toml", &one);
    assert_eq!(summary.seeds, 3);
    assert!(summary.passed(), "{summary:?}");
    assert!(summary.blocks_per_term.min > 0);
}

#[test]
fn failing_seeds_come_with_their_reproduction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stalled.toml");
    std::fs::write(&path, stalled()).unwrap();
    let report = dir.path().join("sweep");
    let p = path.to_str().unwrap();
    let out = sim(&[
        "sweep",
        p,
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("liveness failures 2,"), "{text}");
    assert!(
        text.contains(&format!("  reproduce: tandem-sim run {p} --seed 3\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("  reproduce: tandem-sim run {p} --seed 4\n")),
        "{text}"
    );
    assert!(text.contains("checks: FAILED on 2 seeds"), "{text}");
    // Not a terminal: plain progress lines on stderr, no bar.
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("sweep: 2/2 seeds, 2 failing"), "{err}");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(
        html.contains("<td><code>tandem-sim run"),
        "failing seeds table"
    );
    // Latency, its breakdown, blocks per term, blocks per seed, election rounds,
    // participation (no faults were committed: that section says so in words).
    assert_eq!(html.matches("<svg").count(), 6);
    assert!(html.contains("No node committed a fault."));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["failing"].as_array().unwrap().len(), 2);
    // The reproduction command reproduces it: the same failure, exit status 3.
    let again = sim(&["run", p, "--seed", "4"]);
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8(again.stdout)
        .unwrap()
        .contains("CHECK FAILED (liveness): term 2 made no blocks"));
}

#[test]
fn a_run_report_has_every_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = sim(&[
        "run",
        "scenarios/faults/p4s4-withhold-votes.toml",
        "--report",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for heading in [
        "Checks",
        "Confirmation latency",
        "Where the latency goes",
        "Blocks per term",
        "Signer participation",
        "Rewards per producer",
        "Election rounds",
        "Fault timeline",
    ] {
        assert!(html.contains(&format!("<h2>{heading}</h2>")), "{heading}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    // Latency, breakdown, blocks, participation, coinbase, fees, rounds, fault timeline.
    assert_eq!(html.matches("<svg").count(), 8);
    // The phases add up to each block's latency.
    let blocks = json["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty());
    for b in blocks {
        let p = &b["breakdown"];
        let sum: u64 = [
            "candidate_window_ms",
            "producer_commit_ms",
            "producer_signing_ms",
            "stacker_commit_ms",
            "stacker_signing_ms",
        ]
        .iter()
        .map(|k| p[*k].as_u64().unwrap())
        .sum();
        assert_eq!(Some(sum), b["latency_ms"].as_u64(), "{b}");
    }
    assert!(html.contains("withhold-votes"));
    assert!(json["checks"]["safety"].as_array().unwrap().is_empty());
    // Nothing half-written is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn sweep_arguments_are_checked() {
    let out = sim(&["sweep", "scenarios/tiny.toml", "--seeds", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seeds and --jobs must be at least 1"));
    let out = sim(&["sweep", "scenarios/nope.toml", "--seeds", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read scenarios/nope.toml"));
}

/// The sweep: 200 seeds of the tiny network with byzantine producers and stackers
/// holding up to 32% of each side, every kind of misbehaviour. No fork, no broken promise.
/// Release mode: `cargo test --release -p tandem-sim --test sweep -- --ignored` (about 1.5
/// minutes on two cores; figures in docs/performance.md).
#[test]
#[ignore = "release-mode sweep of 200 seeds"]
fn two_hundred_byzantine_seeds_keep_every_promise() {
    let s = Scenario::parse(include_str!(
        "../scenarios/faults/p4s4-byzantine-mixed.toml"
    ))
    .unwrap();
    let reports = run_seeds(&s, 1, 200, 2, |_, _| {});
    let summary = SweepSummary::of("sim/scenarios/faults/p4s4-byzantine-mixed.toml", &reports);
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    assert_eq!(summary.seeds, 200);
    assert_eq!(summary.forks, 0);
    assert!(summary.passed(), "{:#?}", summary.failing);
    assert!(summary.faults_committed > 0);
    assert!(summary.blocks_per_term.min > 0);
}
