//! The `tandem` binary, run as a user runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bitcoin::hashes::Hash;
use bitcoin::script::PushBytesBuf;
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use serde_json::{json, Value};
use std::process::Command;

const KEY: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
const INPUT: &str = "5f1b4d0ce9d3d73a5d8c3f2c3c1f7e2a1b4d0ce9d3d73a5d8c3f2c3c1f7e2a1b:1";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn tandem(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap(),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    }
}

fn json_of(args: &[&str]) -> Value {
    let o = tandem(args);
    assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

/// Bad input: exit non-zero, exactly one line on stderr that says `expected`, nothing on stdout.
fn fails(args: &[&str], code: i32, expected: &str) {
    let o = tandem(args);
    assert_eq!(o.code, code, "{args:?}: {}", o.stderr);
    assert_eq!(o.stdout, "", "{args:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {}", o.stderr);
    assert!(
        o.stderr.contains(expected),
        "{args:?}: {:?} lacks {expected:?}",
        o.stderr
    );
}

#[test]
fn calc_term_regtest_prepare_phase() {
    let v = json_of(&["calc", "term", "--height", "45", "--json"]);
    assert_eq!(v["term"], 4);
    assert_eq!(v["position_in_term"], 4);
    assert_eq!(v["term_blocks"], json!({"start": 41, "end": 50}));
    assert_eq!(v["reward_cycle"], 0);
    assert_eq!(v["phase"], "prepare");
    assert_eq!(v["enrollments"]["for_term"], 6);
    assert_eq!(v["enrollments"]["window"], json!({"start": 41, "end": 50}));
    assert_eq!(v["enrollments"]["payout"], "burn");
    assert_eq!(
        v["next_set"],
        json!({"term": 5, "enrollment_window": {"start": 31, "end": 40}})
    );
}

#[test]
fn calc_term_mainnet_and_first_burn_height() {
    let v = json_of(&[
        "calc",
        "term",
        "--height",
        "700000",
        "--network",
        "mainnet",
        "--json",
    ]);
    assert_eq!(v["term"], 3395);
    assert_eq!(v["reward_cycle"], 16);
    assert_eq!(v["position_in_cycle"], 350);
    assert_eq!(v["phase"], "reward");
    assert_eq!(v["enrollments"]["draw_index"], 35);
    assert_eq!(v["enrollments"]["draws_per_cycle"], 200);
    let v = json_of(&[
        "calc",
        "term",
        "--height",
        "1",
        "--first-burn-height",
        "1",
        "--network",
        "testnet",
        "--json",
    ]);
    assert_eq!(v["term"], 0);
    assert_eq!(v["next_set"]["enrollment_window"], Value::Null);
}

#[test]
fn calc_term_text() {
    let o = tandem(&["calc", "term", "--height", "45"]);
    assert_eq!(o.code, 0);
    insta::assert_snapshot!(o.stdout, @r"
    network            regtest (first burn height 1)
    burn height        45
    term               4 (block 5 of 10, blocks 41..=50)
    reward cycle       0 (position 44)
    phase              prepare
    enrollments here   for term 6, window 41..=50
    payout             burn: the window is in the prepare phase
    next set           term 5, enrolled in 31..=40
    ");
}

/// The SIP's example: 10/20/30/40 percent of the spend.
#[test]
fn calc_slots_sip_example() {
    let v = json_of(&[
        "calc",
        "slots",
        "--spend",
        "p40=40000",
        "--spend",
        "p10=10000",
        "--spend",
        "p30=30000",
        "--spend",
        "p20=20000",
        "--json",
    ]);
    let ps = v["producers"].as_array().unwrap();
    let names: Vec<&str> = ps.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["p10", "p20", "p30", "p40"]);
    assert_eq!(ps[0]["weight"], 10);
    assert_eq!(
        ps[0]["signer_ids"],
        json!([0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
    );
    let db: Vec<u64> = ps[0]["db_slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let mut expect: Vec<u64> = (0..20).map(|i| i * 10).collect();
    expect.push(200);
    assert_eq!(db, expect);
    assert_eq!(
        ps[1]["signer_ids"].as_array().unwrap()[..4],
        [json!(1), json!(2), json!(11), json!(12)]
    );
    assert_eq!(ps[3]["db_slots"].as_array().unwrap().len(), 81);
    let proposals: Vec<u64> = ps
        .iter()
        .map(|p| p["proposal_slot"].as_u64().unwrap())
        .collect();
    assert_eq!(proposals, [200, 201, 202, 203]);
    assert_eq!(ps[2]["spend"], 30000);
}

#[test]
fn calc_slots_ties_follow_txid_and_seed() {
    let args = |seed: &str| {
        let v = json_of(&[
            "calc",
            "slots",
            "--spend",
            "c=50",
            "--spend",
            "a=50",
            "--spend",
            "b=50",
            "--spend",
            "z=10",
            "--txid",
            &format!("a={}", "01".repeat(32)),
            "--txid",
            &format!("b={}", "02".repeat(32)),
            "--txid",
            &format!("c={}", "03".repeat(32)),
            "--seed",
            seed,
            "--json",
        ]);
        v["producers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // The same known answers as the consensus tests and docs/vectors/chacha12_draw.py.
    assert_eq!(args(&"00".repeat(32)), ["z", "a", "c", "b"]);
    assert_eq!(args(&"03".repeat(32)), ["z", "c", "b", "a"]);
}

#[test]
fn calc_draw_known_answer() {
    let v = json_of(&[
        "calc",
        "draw",
        "--seed",
        &"00".repeat(32),
        "--entries",
        "10",
        "--count",
        "3",
        "--json",
    ]);
    assert_eq!(
        v,
        json!({"chosen": [3, 4, 6], "remaining": [0, 1, 2, 5, 7, 8, 9]})
    );
    let o = tandem(&[
        "calc",
        "draw",
        "--seed",
        &"00".repeat(32),
        "--entries",
        "10",
        "--count",
        "3",
    ]);
    assert_eq!(
        o.stdout,
        "chosen (3)     3, 4, 6\nremaining (7)  0-2, 5, 7-9\n"
    );
}

/// Stacks 2.4's schedule: mainnet's first step change is at 666,050 + 4 x 52,596 = 876,434;
/// the term holding it pays 4 blocks at 1,000 STX and 6 at 500.
#[test]
fn calc_coinbase_follows_the_stacks_schedule() {
    let v = json_of(&[
        "calc",
        "coinbase",
        "--height",
        "876434",
        "--network",
        "mainnet",
        "--json",
    ]);
    assert_eq!(
        v,
        json!({
            "network": "mainnet", "first_burn_height": 666050, "height": 876434,
            "effective_height": 210384, "step": 1, "per_block": 500000000u64,
            "next_step_at": 1086818, "term": 21038,
            "term_blocks": {"start": 876430, "end": 876439},
            "term_coinbase": 7000000000u64
        })
    );
    let v = json_of(&["calc", "coinbase", "--height", "45", "--json"]);
    assert_eq!(v["term_coinbase"], json!(10000000000u64));
    let v = json_of(&[
        "calc",
        "coinbase",
        "--height",
        "5000000",
        "--network",
        "mainnet",
        "--json",
    ]);
    assert_eq!(
        (v["per_block"].clone(), v["next_step_at"].clone()),
        (json!(125000000), Value::Null)
    );
    fails(
        &[
            "calc",
            "coinbase",
            "--height",
            "666049",
            "--network",
            "mainnet",
        ],
        1,
        "burn height 666049 is before first_burn_height 666050",
    );
    // The rewards calculator takes the coinbase from the schedule at a height.
    let v = json_of(&[
        "calc",
        "rewards",
        "--spend",
        "a=1",
        "--spend",
        "b=3",
        "--height",
        "876434",
        "--network",
        "mainnet",
        "--json",
    ]);
    assert_eq!(
        v["coinbase"],
        json!({"a": 1750000000u64, "b": 5250000000u64})
    );
    fails(
        &[
            "calc",
            "rewards",
            "--spend",
            "a=1",
            "--height",
            "5",
            "--coinbase",
            "4",
        ],
        2,
        "cannot be used with",
    );
    fails(&["calc", "rewards", "--spend", "a=1"], 2, "--coinbase");
}

#[test]
fn calc_rewards_split_exactly() {
    let v = json_of(&[
        "calc",
        "rewards",
        "--spend",
        "a=10",
        "--spend",
        "b=20",
        "--spend",
        "c=30",
        "--spend",
        "d=40",
        "--coinbase",
        "10000000000",
        "--fees",
        "1001",
        "--signers",
        "d,a",
        "--json",
    ]);
    assert_eq!(
        v,
        json!({
            "coinbase": {"a": 1000000000u64, "b": 2000000000u64, "c": 3000000000u64, "d": 4000000000u64},
            "fees": {"a": 200, "d": 801}
        })
    );
    // Thirds: the unit left over goes to the later producer in tie-break order.
    let v = json_of(&[
        "calc",
        "rewards",
        "--spend",
        "a=1",
        "--spend",
        "b=1",
        "--spend",
        "c=1",
        "--coinbase",
        "100",
        "--json",
    ]);
    let total: u64 = v["coinbase"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(total, 100);
    assert_eq!(v["fees"], json!({}));
}

fn twenty_recipients() -> Vec<String> {
    let addrs = [
        "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    ];
    (0..20)
        .flat_map(|i| ["--recipient".to_string(), addrs[i % 2].to_string()])
        .collect()
}

/// payout-tx builds what op decode reads back.
#[test]
fn payout_tx_round_trips_through_op_decode() {
    let mut args: Vec<String> = [
        "calc",
        "payout-tx",
        "--input",
        INPUT,
        "--key-block",
        "3",
        "--key-txoff",
        "1",
        "--signing-key",
        KEY,
        "--spend",
        "20000",
        "--change",
        "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn:5000",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(twenty_recipients());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let built = json_of(&refs);
    assert_eq!(built["form"], "pox");
    assert_eq!(built["outputs"], 22);
    assert_eq!(built["per_output"], 1000);
    let hex = built["hex"].as_str().unwrap();
    let d = json_of(&["op", "decode", hex]);
    assert_eq!(d["txid"], built["txid"]);
    assert_eq!(
        d["operation"],
        json!({"op": "enrollment", "set_block": 0, "set_txoff": 0, "key_block": 3, "key_txoff": 1,
               "signing_pubkey": KEY, "state_root": "00".repeat(32)})
    );
    assert_eq!(d["payout"]["form"], "pox");
    assert_eq!(d["payout"]["spend"], 20000);
    assert_eq!(d["payout"]["recipients"].as_array().unwrap().len(), 20);
    assert_eq!(
        d["payout"]["change"],
        json!({"address": "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "sats": 5000})
    );
    // Unsigned: input 0 has no derivable sender yet.
    assert_eq!(d["sender"], Value::Null);

    // Without recipients: the burn form.
    let burn = json_of(&[
        "calc",
        "payout-tx",
        "--input",
        INPUT,
        "--key-block",
        "3",
        "--key-txoff",
        "1",
        "--signing-key",
        KEY,
        "--spend",
        "7000",
        "--json",
    ]);
    assert_eq!(burn["form"], "burn");
    assert_eq!(burn["outputs"], 2);
    let d = json_of(&["op", "decode", burn["hex"].as_str().unwrap()]);
    assert_eq!(d["payout"]["form"], "burn");
    assert_eq!(d["payout"]["spend"], 7000);
}

fn tx_hex(output0: ScriptBuf, extra: Vec<TxOut>, input: TxIn) -> String {
    let mut output = vec![TxOut {
        value: Amount::ZERO,
        script_pubkey: output0,
    }];
    output.extend(extra);
    let tx = Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![input],
        output,
    };
    bitcoin::consensus::encode::serialize_hex(&tx)
}

fn p2wpkh_input() -> TxIn {
    TxIn {
        previous_output: OutPoint {
            txid: Txid::from_byte_array([3; 32]),
            vout: 0,
        },
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::from_slice(&[vec![0x30; 71], hex::decode(KEY).unwrap()]),
    }
}

#[test]
fn op_decode_announcement_sender_and_non_operations() {
    let mut push = b"id+".to_vec();
    push.extend_from_slice(&7u32.to_be_bytes());
    push.extend_from_slice(&[0xaa; 32]);
    push.extend_from_slice(&[0xbb; 32]);
    let hex = tx_hex(
        ScriptBuf::new_op_return(PushBytesBuf::try_from(push).unwrap()),
        vec![],
        p2wpkh_input(),
    );
    let d = json_of(&["op", "decode", &hex]);
    assert_eq!(
        d["operation"],
        json!({"op": "announcement", "term": 7, "block_id": "aa".repeat(32), "state_root": "bb".repeat(32)})
    );
    // The P2WPKH address of the generator point's key on regtest.
    assert_eq!(d["sender"], "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080");
    // Same bytes read as mainnet: another magic, so no operation.
    // --json is accepted, as by every other command, and changes nothing (JSON is the output).
    assert_eq!(
        json_of(&["op", "decode", &hex, "--json"]),
        json_of(&["op", "decode", &hex])
    );
    let d = json_of(&["op", "decode", &hex, "--network", "mainnet"]);
    assert_eq!(d["operation"], Value::Null);
    assert_eq!(d["sender"], "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
}

/// stacks-core's transfer-stx (`$`): amount and memo from the push, the recipient from output
/// 1 as a c32 Stacks address, the sender named by the pre-stx output input 0 spends.
#[test]
fn op_decode_shows_stacks_operations() {
    let mut push = b"id$".to_vec();
    push.extend_from_slice(&5_000_000u128.to_be_bytes());
    push.extend_from_slice(b"hi");
    let recipient = ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([7; 20]));
    let mut input = p2wpkh_input();
    input.previous_output.vout = 1;
    let hex = tx_hex(
        ScriptBuf::new_op_return(PushBytesBuf::try_from(push).unwrap()),
        vec![TxOut {
            value: Amount::from_sat(5_500),
            script_pubkey: recipient,
        }],
        input,
    );
    let d = json_of(&["op", "decode", &hex]);
    assert_eq!(d["operation"]["op"], "transfer_stx");
    assert_eq!(d["operation"]["amount"], 5_000_000);
    assert_eq!(d["operation"]["memo"], "6869");
    assert_eq!(d["operation"]["sender"]["vout"], 1);
    let want = tandem_consensus::stacking::StacksAddress::new(26, [7; 20])
        .unwrap()
        .to_c32();
    assert_eq!(d["stacks"]["recipient"], want);
    // Spending output 0 of the pre-stx names no sender: refused by name.
    let mut push = b"id$".to_vec();
    push.extend_from_slice(&1u128.to_be_bytes());
    fails(
        &[
            "op",
            "decode",
            &tx_hex(
                ScriptBuf::new_op_return(PushBytesBuf::try_from(push).unwrap()),
                vec![],
                p2wpkh_input(),
            ),
        ],
        1,
        "transfer-stx input 0 spends output 0 of its pre-stx transaction",
    );
}

#[test]
fn bad_input_gets_one_line_and_a_non_zero_exit() {
    // A 79-byte enrollment push.
    let mut push = b"id@".to_vec();
    push.resize(79, 0);
    let hex79 = tx_hex(
        ScriptBuf::new_op_return(PushBytesBuf::try_from(push).unwrap()),
        vec![],
        p2wpkh_input(),
    );
    fails(
        &["op", "decode", &hex79],
        1,
        "malformed operation: enrollment push must be exactly 80 bytes, got 79",
    );
    fails(
        &["op", "decode", "zz"],
        1,
        "transaction hex is not valid hex",
    );
    fails(&["op", "decode", "0200"], 1, "truncated");
    fails(
        &["calc", "slots", "--spend", "a=0"],
        1,
        "--spend a=0: spend must be at least 1 sat",
    );
    fails(
        &["calc", "rewards", "--spend", "a=0", "--coinbase", "5"],
        1,
        "spend must be at least 1 sat",
    );
    fails(
        &["calc", "term", "--height", "5", "--network", "signet"],
        2,
        "unknown network \"signet\"",
    );
    fails(
        &["calc", "term", "--height", "0"],
        1,
        "burn height 0 is before first_burn_height 1",
    );
    fails(
        &["calc", "term", "--height", "x"],
        2,
        "invalid value 'x' for '--height <H>'",
    );
    fails(&["calc", "slots"], 2, "--spend <NAME=SATS>");
    fails(
        &[
            "calc",
            "draw",
            "--seed",
            "00",
            "--entries",
            "3",
            "--count",
            "1",
        ],
        1,
        "--seed: expected 32 bytes of hex, got 1",
    );
    fails(
        &[
            "calc",
            "rewards",
            "--spend",
            "a=1",
            "--coinbase",
            "5",
            "--fees",
            "3",
            "--signers",
            "b",
        ],
        1,
        "--signers b: not a member",
    );
    // payout-tx with one argument changed at a time from a valid base.
    let payout = |input: &str, key: &str, spend: &str, extra: &[&str], expected: &str| {
        let mut args = vec![
            "calc",
            "payout-tx",
            "--input",
            input,
            "--key-block",
            "1",
            "--key-txoff",
            "0",
            "--signing-key",
            key,
            "--spend",
            spend,
        ];
        args.extend_from_slice(extra);
        fails(&args, 1, expected);
    };
    let bad_key = KEY.replacen("02", "05", 1);
    payout("x", KEY, "100", &[], "--input expects TXID:VOUT");
    payout(INPUT, KEY, "0", &[], "spend must be at least 1 sat");
    payout(
        INPUT,
        &bad_key,
        "1000",
        &[],
        "--signing-key: not a valid compressed secp256k1 public key",
    );
    payout(
        INPUT,
        KEY,
        "1000",
        &["--recipient", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"],
        "not an address of network regtest",
    );
    payout(
        INPUT,
        KEY,
        "1001",
        &["--recipient", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"],
        "does not split evenly over 20 PoX outputs",
    );
    fails(&["calc", "nope"], 2, "unrecognized subcommand 'nope'");
}

/// The known-answer enrollment of docs/protocol.md, byte for byte.
#[test]
fn known_answer_enrollment_transaction() {
    let one = "11".repeat(32);
    let root = "aa".repeat(32);
    let input = format!("{one}:0");
    let built = json_of(&[
        "calc",
        "payout-tx",
        "--input",
        &input,
        "--set-block",
        "21",
        "--set-txoff",
        "2",
        "--key-block",
        "3",
        "--key-txoff",
        "1",
        "--signing-key",
        KEY,
        "--state-root",
        &root,
        "--spend",
        "10000",
        "--json",
    ]);
    let expected_hex = concat!(
        "02000000",
        "01",
        "1111111111111111111111111111111111111111111111111111111111111111",
        "00000000",
        "00",
        "fdffffff",
        "02",
        "0000000000000000",
        "53",
        "6a4c50",
        "696440",
        "00000015",
        "0002",
        "00000003",
        "0001",
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "1027000000000000",
        "19",
        "76a914000000000000000000000000000000000000000088ac",
        "00000000"
    );
    assert_eq!(built["hex"], expected_hex);
    assert_eq!(
        built["txid"],
        "d8d9b17ee763614bfea64330868946e586a4330bf7abc9ab594f68a61b60913d"
    );
    let d = json_of(&["op", "decode", expected_hex]);
    assert_eq!(
        d["operation"],
        json!({"op": "enrollment", "set_block": 21, "set_txoff": 2, "key_block": 3, "key_txoff": 1,
               "signing_pubkey": KEY, "state_root": root})
    );
    assert_eq!(
        d["payout"],
        json!({"form": "burn", "spend": 10000, "per_output": null, "recipients": [], "change": null})
    );
}

/// libstackerdb's known answer through the CLI.
#[test]
fn stackerdb_sign_known_answer() {
    let v = json_of(&[
        "stackerdb",
        "sign",
        "--private-key",
        "6a1fc1a3183018c6d79a4e11e154d2bdad2d89ac8bc1b0a021de8b4d28774fbb01",
        "--slot",
        "0",
        "--version",
        "1",
        "--data-hex",
        &"01".repeat(128),
        "--json",
    ]);
    assert_eq!(
        v,
        json!({
            "slot_id": 0,
            "slot_version": 1,
            "data_hash": "e5e55fadc0740e5eb1712d75fb5323733c385c3a331af3c14dd7f4c9f85fce54",
            "digest": "8f8c0e45549979dafc1f8cd9b786512719f7018e7eb96755584528701d23ccd9",
            "signature": "010ccf71dd163a34ab298f7fad8bdc15e63944f7669ee04a889c300071ec964c2b522d73b67b578c8e89d77837660503076e437aa9dc5e7f934032ac0f728629b5",
            "public_key": "03bc489f27da3701d9f9e577c88de5567cf4023111b7577042d55cde4d823a3505"
        })
    );
    fails(
        &[
            "stackerdb",
            "sign",
            "--private-key",
            "00",
            "--slot",
            "0",
            "--version",
            "1",
        ],
        1,
        "--private-key: expected 32 or 33 bytes, got 1",
    );
    fails(
        &[
            "stackerdb",
            "sign",
            "--private-key",
            &"11".repeat(32),
            "--slot",
            "0",
            "--version",
            "1",
            "--data-hex",
            "xyz",
        ],
        1,
        "--data-hex: not valid hex",
    );
}

/// `tandem bench frost` runs the whole flow; its JSON carries the keys the issue names.
#[test]
fn bench_frost_small_run() {
    let v = json_of(&[
        "bench",
        "frost",
        "--slots",
        "20",
        "--parties",
        "4",
        "--json",
    ]);
    assert_eq!(v["threshold"], 14);
    assert_eq!(v["signing_parties"], 3);
    assert_eq!(v["signing_slots"], 15);
    assert_eq!(v["signature_bytes"], 65);
    // Bit vector (1 byte for 4 parties) and 3 witness entries of 98 bytes, framing included.
    assert_eq!(v["witness_bytes"], 1 + 2 + 1 + 2 + 3 * 98);
    for key in [
        "dkg_ms_per_party",
        "sign_ms_per_party",
        "aggregate_ms",
        "verify_witness_ms",
        "verify_witness_cached_ms",
        "calibration_start_ms",
        "calibration_end_ms",
    ] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}");
    }
    // Four parties give four distinct starting points for a threshold set.
    assert_eq!(v["verify_witness_new_sets"], 4);
    let (min, median, max) = (
        v["verify_witness_min_ms"].as_f64().unwrap(),
        v["verify_witness_ms"].as_f64().unwrap(),
        v["verify_witness_max_ms"].as_f64().unwrap(),
    );
    assert!(min <= median && median <= max, "{min} {median} {max}");
    fails(
        &["bench", "frost", "--slots", "3", "--parties", "4"],
        1,
        "need 1 <= parties <= slots <= 4096",
    );
    fails(
        &["bench", "frost", "--slots", "5000", "--parties", "4"],
        1,
        "need 1 <= parties <= slots <= 4096",
    );
}

/// stacks.js's mainnet stack-increase vector through the stacks-signer-style commands.
#[test]
fn stacking_signature_generate_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("signer.toml");
    std::fs::write(
        &config,
        "stacks_private_key = \"553625396c91c18e403620e31950be525fc2a4ee9bcd99319315403f40e5b4f801\"\nnetwork = \"mainnet\"\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let fields = [
        "--pox-address",
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
        "--reward-cycle",
        "1242",
        "--method",
        "stack-increase",
        "--period",
        "1",
        "--max-amount",
        "807060009172764",
        "--auth-id",
        "2013631833",
    ];
    let mut args = vec!["generate-stacking-signature"];
    args.extend_from_slice(&fields);
    args.extend_from_slice(&["--config", cfg, "--json"]);
    let v = json_of(&args);
    assert_eq!(
        v,
        json!({
            "signerKey": "02e8121904180cf11233b191e5584dfef76fee42c8c773b18eceff730d146191eb",
            "signerSignature": "6a1cf6a77d546e7816371e05752846652fe115a6acb85bffbc6f5fe0d70f80412c689a7d5a724e3af817ceafced28526d31354c908ed192422de93635345d41a01",
            "authId": "2013631833",
            "rewardCycle": 1242,
            "maxAmount": "807060009172764",
            "period": 1,
            "poxAddress": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
            "method": "stack-increase"
        })
    );
    let sig = v["signerSignature"].as_str().unwrap().to_string();
    let key = v["signerKey"].as_str().unwrap().to_string();
    let mut verify = vec!["verify-stacking-signature"];
    verify.extend_from_slice(&fields);
    verify.extend_from_slice(&[
        "--signer-key",
        &key,
        "--signature",
        &sig,
        "--network",
        "mainnet",
    ]);
    assert_eq!(tandem(&verify).code, 0);
    // Taking the network from the config works too.
    let mut with_config = verify[..verify.len() - 2].to_vec();
    with_config.extend_from_slice(&["--config", cfg]);
    assert_eq!(tandem(&with_config).code, 0);
    // Another auth id: a mismatch, exit 1.
    let mut replay = verify.clone();
    replay[12] = "2013631834";
    fails(
        &replay,
        1,
        "signature does not match: signature was made by key",
    );
    // On testnet the chain id differs (and the address is a mainnet one).
    let mut testnet = verify.clone();
    let last = testnet.len() - 1;
    testnet[last] = "testnet";
    fails(&testnet, 1, "--pox-address: \"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2\" is not an address of network testnet");
}

#[test]
fn stacking_signature_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = write(
        "good.toml",
        &format!(
            "stacks_private_key = \"{}01\"\nnetwork = \"testnet\"\n",
            "11".repeat(32)
        ),
    );
    let gen = |cfg: &str, method: &str, period: &str, addr: &str| -> Vec<String> {
        [
            "generate-stacking-signature",
            "--pox-address",
            addr,
            "--reward-cycle",
            "5",
            "--method",
            method,
            "--period",
            period,
            "--max-amount",
            "1",
            "--auth-id",
            "1",
            "--config",
            cfg,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |args: Vec<String>, msg: &str| {
        fails(&args.iter().map(String::as_str).collect::<Vec<_>>(), 1, msg)
    };
    let addr = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn";
    run(
        gen("/nonexistent/signer.toml", "stack-stx", "1", addr),
        "cannot read config /nonexistent/signer.toml",
    );
    run(
        gen(
            &write(
                "net.toml",
                "stacks_private_key = \"11\"\nnetwork = \"signet\"\n",
            ),
            "stack-stx",
            "1",
            addr,
        ),
        "field network: unknown network \"signet\"",
    );
    run(
        gen(
            &write(
                "key.toml",
                "stacks_private_key = \"11\"\nnetwork = \"testnet\"\n",
            ),
            "stack-stx",
            "1",
            addr,
        ),
        "field stacks_private_key: expected 32 or 33 bytes, got 1",
    );
    run(
        gen(
            &write("bad.toml", "network = \"testnet\"\n"),
            "stack-stx",
            "1",
            addr,
        ),
        "missing field `stacks_private_key`",
    );
    run(
        gen(
            &write("syntax.toml", "stacks_private_key = \n"),
            "stack-stx",
            "1",
            addr,
        ),
        "config",
    );
    run(
        gen(&good, "stack-delegate", "1", addr),
        "--method: unknown method \"stack-delegate\"",
    );
    run(
        gen(&good, "agg-commit", "4", addr),
        "--period 4: pox-4 checks agg-commit signatures with period 1",
    );
    run(
        gen(&good, "stack-stx", "13", addr),
        "--period 13: a lock period is 1 to 12 cycles",
    );
    run(
        gen(&good, "stack-stx", "1", "xyz"),
        "--pox-address: \"xyz\" is not a Bitcoin address",
    );
    // The good config works, for every kind of testnet address.
    for a in [
        addr,
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
    ] {
        let args = gen(&good, "stack-stx", "3", a);
        let o = tandem(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.code, 0, "{a}: {}", o.stderr);
    }
    fails(
        &[
            "verify-stacking-signature",
            "--pox-address",
            addr,
            "--reward-cycle",
            "5",
            "--method",
            "stack-stx",
            "--period",
            "1",
            "--max-amount",
            "1",
            "--auth-id",
            "1",
            "--signer-key",
            "02",
            "--signature",
            "00",
        ],
        1,
        "--signer-key: not a valid compressed secp256k1 public key",
    );
}

const KEY2: &str = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
const BCRT_P2WPKH: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const TESTNET_P2PKH: &str = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn";

/// 1B STX liquid on regtest (80 slots): threshold max(180M, 250M) / 80 = 3.125M -> 3.13M STX.
/// The P2WPKH address appears twice and merges (130M STX, 41 slots); key 2 is bound to 50M
/// and 30M STX across two addresses (80M, weight 25).
#[test]
fn calc_reward_set_merges_and_assigns_slot_ranges() {
    let a = format!("{BCRT_P2WPKH}:100000000000000:{KEY}");
    let b = format!("{TESTNET_P2PKH}:50000000000000:{KEY2}");
    let c = format!("{BCRT_P2WPKH}:30000000000000:{KEY2}");
    let v = json_of(&[
        "calc",
        "reward-set",
        "--stacker",
        &a,
        "--stacker",
        &b,
        "--stacker",
        &c,
        "--liquid",
        "1000000000000000",
        "--json",
    ]);
    assert_eq!(
        v,
        json!({
            "network": "regtest",
            "reward_slots": 80,
            "liquid_ustx": 1_000_000_000_000_000u64,
            "stacked_ustx": 180_000_000_000_000u64,
            "threshold_ustx": 3_130_000_000_000u64,
            "addresses": [
                {"address": BCRT_P2WPKH, "amount_ustx": 130_000_000_000_000u64, "slots": 41},
                {"address": TESTNET_P2PKH, "amount_ustx": 50_000_000_000_000u64, "slots": 15}
            ],
            "payout_entries": 56,
            "signers": [
                {"signer_key": KEY, "amount_ustx": 100_000_000_000_000u64, "weight": 31,
                 "first_slot": 0, "end_slot": 31},
                {"signer_key": KEY2, "amount_ustx": 80_000_000_000_000u64, "weight": 25,
                 "first_slot": 31, "end_slot": 56}
            ],
            "signer_slots": 56,
            "signing_threshold": 38
        })
    );
    let text = tandem(&[
        "calc",
        "reward-set",
        "--stacker",
        &a,
        "--liquid",
        "1000000000000000",
    ]);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains("slots 0..31  signing 4000..4031"),
        "{}",
        text.stdout
    );
}

#[test]
fn calc_reward_set_rejects_bad_input() {
    let ok_entry = format!("{BCRT_P2WPKH}:1:{KEY}");
    fails(
        &["calc", "reward-set", "--stacker", "foo", "--liquid", "1"],
        1,
        "--stacker expects BTC_ADDRESS:USTX:SIGNER_KEY",
    );
    fails(
        &[
            "calc",
            "reward-set",
            "--stacker",
            &format!("nope:1:{KEY}"),
            "--liquid",
            "1",
        ],
        1,
        "\"nope\" is not a Bitcoin address",
    );
    fails(
        &[
            "calc",
            "reward-set",
            "--stacker",
            &format!("{BCRT_P2WPKH}:1.5:{KEY}"),
            "--liquid",
            "9",
        ],
        1,
        "must be a whole number of micro-STX",
    );
    fails(
        &[
            "calc",
            "reward-set",
            "--stacker",
            &format!("{BCRT_P2WPKH}:1:02aa"),
            "--liquid",
            "9",
        ],
        1,
        "expected 33 bytes of hex",
    );
    let not_point = format!("{BCRT_P2WPKH}:1:05{}", "11".repeat(32));
    fails(
        &[
            "calc",
            "reward-set",
            "--stacker",
            &not_point,
            "--liquid",
            "9",
        ],
        1,
        "not a compressed secp256k1 public key",
    );
    fails(
        &[
            "calc",
            "reward-set",
            "--stacker",
            &ok_entry,
            "--liquid",
            "0",
        ],
        1,
        "exceeds the liquid supply",
    );
    fails(
        &[
            "calc",
            "reward-set",
            "--stacker",
            &ok_entry,
            "--liquid",
            "9",
            "--network",
            "mainnet",
        ],
        1,
        "is not an address of network mainnet",
    );
    fails(&["calc", "reward-set", "--liquid", "9"], 2, "--stacker");
}
