//! The `tandem-sim` binary: JSON shape, determinism across runs, and one-line errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tandem-sim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn json_report_has_the_promised_keys_and_is_reproducible() {
    let a = sim(&["run", "scenarios/tiny.toml", "--json"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["digest"].as_str().unwrap().len(), 64);
    let term = &v["terms"][0];
    assert_eq!(term["term"], 2);
    assert!(term["blocks"].as_u64().unwrap() > 0);
    assert!(term["latency_ms"].as_u64().unwrap() > 0);
    assert_eq!(v["conflicting_heights"], 0);
    for key in [
        "blocks",
        "transactions",
        "enrollments",
        "announcements",
        "payout_outputs",
        "refused",
    ] {
        assert!(v["bitcoin"][key].is_u64(), "bitcoin.{key}");
    }
    for key in ["writes_accepted", "writes_refused", "sync_messages"] {
        assert!(v["stackerdb"][key].is_u64(), "stackerdb.{key}");
    }
    // --seed overrides the file's seed: another digest; the same seed again: the same one.
    let b = sim(&["run", "scenarios/tiny.toml", "--json", "--seed", "4"]);
    let w: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_ne!(v["digest"], w["digest"]);
    let c = sim(&["run", "scenarios/tiny.toml", "--json", "--seed", "3"]);
    assert_eq!(a.stdout, c.stdout);
}

#[test]
fn bad_input_gets_one_line_and_exit_2() {
    let out = sim(&["run", "scenarios/nope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot read scenarios/nope.toml"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "name = \"x\"\nseed = 1\nterms = 0\n").unwrap();
    let out = sim(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("missing field"), "{err}");
}
