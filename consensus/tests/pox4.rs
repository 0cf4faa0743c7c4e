//! The pox-4 state machine: the seeds' flows end to end, every error path of every call, replayed
//! and tampered signatures, and property tests that no call creates or destroys micro-STX and
//! that a failed call changes nothing.
//!
//! Regtest parameters throughout: first burn height 1, 60-block cycles (cycle c is heights
//! 1 + 60c ..= 60 + 60c), 20-block prepare phases, 80 reward slots. Twenty accounts of 50M STX
//! make a liquid supply of 1B STX: stacking minimum 125,000 STX, reward threshold 3,130,000 STX.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use secp256k1::{PublicKey, Secp256k1, SecretKey};
use tandem_consensus::stacking::state::AuthKey;
use tandem_consensus::stacking::{
    AccountView, Call, CallContext, CallOutput, PoxAddress, PoxConfig, PoxError, PoxState,
    Principal, RewardSet, SignerArgs, SignerKey, SignerKeyMessage, StacksAddress, Topic,
};
use tandem_consensus::{BurnHeight, MicroStx, Network, NetworkParams, RewardCycle};

const STX: u128 = 1_000_000;

fn stx(n: u128) -> MicroStx {
    MicroStx(n * STX)
}

fn sk(i: u8) -> SecretKey {
    SecretKey::from_slice(&[i; 32]).unwrap()
}

fn pk(i: u8) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &sk(i))
}

/// The regtest address of key `i`.
fn who(i: u8) -> Principal {
    StacksAddress::from_public_key(&pk(i).serialize(), Network::Regtest).into()
}

fn key(i: u8) -> SignerKey {
    SignerKey(pk(i).serialize())
}

fn pox(i: u8) -> PoxAddress {
    PoxAddress {
        version: 0,
        hashbytes: vec![i; 20],
    }
}

struct World {
    st: PoxState,
    params: NetworkParams,
}

impl World {
    fn new() -> World {
        let params = NetworkParams::preset(Network::Regtest);
        let mut st = PoxState::new(PoxConfig::from_params(&params));
        for i in 1..=20 {
            st.mint(&who(i), stx(50_000_000)).unwrap();
        }
        World { st, params }
    }

    fn call(&mut self, sender: u8, h: u32, call: Call) -> Result<CallOutput, PoxError> {
        self.st
            .execute(&CallContext::direct(who(sender), BurnHeight(h)), &call)
    }

    fn ok(&mut self, sender: u8, h: u32, call: Call) -> CallOutput {
        let name = call.name();
        self.call(sender, h, call)
            .unwrap_or_else(|e| panic!("{name} by {sender} at {h}: {e}"))
    }

    /// Asserts the error code and that the failed call changed nothing.
    fn fails(&mut self, sender: u8, h: u32, call: Call, code: u32) {
        self.fails_in(&CallContext::direct(who(sender), BurnHeight(h)), call, code);
    }

    /// [`World::fails`] for a call made in `ctx` (through a contract, say).
    fn fails_in(&mut self, ctx: &CallContext, call: Call, code: u32) {
        let before = self.st.clone();
        let name = call.name();
        let err = self.st.execute(ctx, &call).expect_err(name);
        assert_eq!(err.code(), Some(code), "{name}: {err}");
        assert!(
            self.st == before,
            "{name} failed with {err} but changed the state"
        );
    }

    fn account(&self, i: u8, h: u32) -> AccountView {
        self.st.stx_account(&who(i), BurnHeight(h))
    }
}

/// A call by `sender` at height `h` made through a contract nobody allowed.
fn through_contract(sender: u8, h: u32) -> CallContext {
    CallContext {
        sender: who(sender),
        caller: Principal::contract(*who(2).standard().unwrap(), "x").unwrap(),
        burn_height: BurnHeight(h),
    }
}

/// A signer-key signature by key `signer`.
#[allow(clippy::too_many_arguments)]
fn signed(
    signer: u8,
    pox_addr: &PoxAddress,
    cycle: u128,
    topic: Topic,
    period: u128,
    max_amount: u128,
    auth_id: u128,
) -> SignerArgs {
    let msg = SignerKeyMessage {
        pox_address: pox_addr.clone(),
        reward_cycle: cycle,
        topic,
        period,
        max_amount,
        auth_id,
    };
    SignerArgs {
        signer_sig: Some(msg.sign(&sk(signer), 0x8000_0000).to_vec()),
        signer_key: key(signer),
        max_amount,
        auth_id,
    }
}

fn stack_stx(amount: MicroStx, h: u32, period: u128, signer: SignerArgs) -> Call {
    Call::StackStx {
        amount_ustx: amount,
        pox_addr: pox(1),
        start_burn_ht: u128::from(h),
        lock_period: period,
        signer,
    }
}

/// Alice (1) stacks 10M STX for 2 cycles at height 5 with signer key 101.
fn alice_stacks(w: &mut World) {
    let sig = signed(101, &pox(1), 0, Topic::StackStx, 2, u128::MAX, 1);
    w.ok(1, 5, stack_stx(stx(10_000_000), 5, 2, sig));
}

#[test]
fn thresholds_of_the_test_world() {
    let w = World::new();
    assert_eq!(w.st.liquid_supply(), stx(1_000_000_000));
    assert_eq!(w.st.stacking_minimum(), stx(125_000));
    assert_eq!(w.st.total_balances(), Some(w.st.liquid_supply()));
}

/// Seed flow (solo stacking): stack-stx, stack-increase, stack-extend with a new signer key,
/// the reward sets that result, and the lock released at the unlock height.
#[test]
fn solo_stacker_stacks_increases_and_extends_with_key_rotation() {
    let mut w = World::new();
    let sig = signed(101, &pox(1), 0, Topic::StackStx, 2, u128::MAX, 1);
    let out = w.ok(1, 5, stack_stx(stx(10_000_000), 5, 2, sig.clone()));
    assert_eq!(
        out,
        CallOutput::Stacked {
            stacker: who(1),
            lock_amount: stx(10_000_000),
            signer_key: key(101),
            unlock_burn_height: 181,
        }
    );
    assert_eq!(
        w.account(1, 5),
        AccountView {
            locked: stx(10_000_000),
            unlocked: stx(40_000_000),
            unlock_height: 181
        }
    );
    let state = w.st.stacking_state(&who(1)).unwrap().clone();
    assert_eq!(
        (
            state.first_reward_cycle,
            state.lock_period,
            state.reward_set_indexes.clone()
        ),
        (1, 2, vec![0, 0])
    );
    for cycle in [1, 2] {
        let e = w.st.reward_set_entry(cycle, 0).unwrap();
        assert_eq!(
            (e.total_ustx, e.stacker.clone(), e.signer),
            (stx(10_000_000), Some(who(1)), key(101))
        );
        assert_eq!(w.st.total_ustx_stacked(cycle), stx(10_000_000));
    }
    assert_eq!(w.st.reward_set_size(3), 0);

    // Replaying the same authorization, even by another stacker, fails.
    w.fails(2, 6, stack_stx(stx(10_000_000), 6, 2, sig), 39);

    // stack-increase in cycle 1 signs cycle 1 with the lock period (2) and raises cycle 2 only.
    let inc = signed(101, &pox(1), 1, Topic::StackIncrease, 2, u128::MAX, 2);
    let out = w.ok(
        1,
        70,
        Call::StackIncrease {
            increase_by: stx(5_000_000),
            signer: inc,
        },
    );
    assert_eq!(
        out,
        CallOutput::Increased {
            stacker: who(1),
            total_locked: stx(15_000_000)
        }
    );
    assert_eq!(
        w.st.reward_set_entry(1, 0).unwrap().total_ustx,
        stx(10_000_000)
    );
    assert_eq!(
        w.st.reward_set_entry(2, 0).unwrap().total_ustx,
        stx(15_000_000)
    );
    assert_eq!(w.st.total_ustx_stacked(2), stx(15_000_000));
    assert_eq!(w.account(1, 70).locked, stx(15_000_000));

    // stack-extend by 2 cycles, rotating to signer key 102 for the new cycles.
    let ext = signed(102, &pox(1), 1, Topic::StackExtend, 2, u128::MAX, 3);
    let out = w.ok(
        1,
        75,
        Call::StackExtend {
            extend_count: 2,
            pox_addr: pox(1),
            signer: ext,
        },
    );
    assert_eq!(
        out,
        CallOutput::Extended {
            stacker: who(1),
            unlock_burn_height: 301
        }
    );
    let state = w.st.stacking_state(&who(1)).unwrap().clone();
    assert_eq!(
        (
            state.first_reward_cycle,
            state.lock_period,
            state.reward_set_indexes.clone()
        ),
        (1, 4, vec![0, 0, 0, 0])
    );
    for (cycle, signer) in [(2, key(101)), (3, key(102)), (4, key(102))] {
        let e = w.st.reward_set_entry(cycle, 0).unwrap();
        assert_eq!(
            (e.total_ustx, e.signer),
            (stx(15_000_000), signer),
            "cycle {cycle}"
        );
    }

    // The increased cycles now straddle two signer keys: stack-increase must refuse, with
    // either key, and must not consume the authorization.
    for k in [101, 102] {
        let inc = signed(k, &pox(1), 1, Topic::StackIncrease, 4, u128::MAX, 9);
        w.fails(
            1,
            76,
            Call::StackIncrease {
                increase_by: stx(1),
                signer: inc,
            },
            40,
        );
    }

    // Reward sets: cycle 2 is signed by key 101, cycle 3 by key 102, 4 slots each.
    for (cycle, signer) in [(2, key(101)), (3, key(102))] {
        let set = w.st.reward_set(RewardCycle(cycle), &w.params).unwrap();
        assert_eq!(set.threshold, stx(3_130_000));
        assert_eq!(set.addresses.len(), 1);
        assert_eq!(set.addresses[0].slots, 4);
        assert_eq!(set.payout_entries(), vec![pox(1); 4]);
        assert_eq!(set.signers.len(), 1);
        assert_eq!(
            (set.signers[0].signer_key, set.signers[0].weight),
            (signer, 4)
        );
        assert_eq!((set.signer_slots, set.signing_threshold), (4, 3));
    }

    // The lock is released at height 301, and alice can stack again.
    assert_eq!(w.account(1, 300).locked, stx(15_000_000));
    assert_eq!(
        w.account(1, 301),
        AccountView {
            locked: MicroStx::ZERO,
            unlocked: stx(50_000_000),
            unlock_height: 0
        }
    );
    assert!(w
        .st
        .stacker_info(&who(1), BurnHeight(301))
        .unwrap()
        .is_none());
    let again = signed(101, &pox(1), 5, Topic::StackStx, 1, u128::MAX, 4);
    w.ok(1, 305, stack_stx(stx(1_000_000), 305, 1, again));
    assert_eq!(w.st.total_balances(), Some(w.st.liquid_supply()));
}

fn delegate(amount: MicroStx, to: u8, until: Option<u128>, pox_addr: Option<PoxAddress>) -> Call {
    Call::DelegateStx {
        amount_ustx: amount,
        delegate_to: who(to),
        until_burn_ht: until,
        pox_addr,
        signer_key: None,
    }
}

fn delegate_stack(
    stacker: u8,
    amount: MicroStx,
    pox_addr: PoxAddress,
    h: u32,
    period: u128,
) -> Call {
    Call::DelegateStackStx {
        stacker: who(stacker),
        amount_ustx: amount,
        pox_addr,
        start_burn_ht: u128::from(h),
        lock_period: period,
    }
}

/// Operator `operator`'s stack-aggregation-commit-indexed of its own PoX address
/// (`pox(operator)`) for `cycle`.
fn commit_indexed(operator: u8, cycle: u128, signer: SignerArgs) -> Call {
    Call::StackAggregationCommitIndexed {
        pox_addr: pox(operator),
        reward_cycle: cycle,
        signer,
    }
}

/// Pool operator 10 (signer key 110) with delegators 11, 12 and 13.
fn pool(w: &mut World) {
    w.ok(11, 2, delegate(stx(20_000_000), 10, None, None));
    w.ok(
        12,
        2,
        delegate(stx(20_000_000), 10, Some(1000), Some(pox(10))),
    );
    w.ok(13, 2, delegate(stx(20_000_000), 10, None, Some(pox(10))));
    w.ok(10, 10, delegate_stack(11, stx(4_000_000), pox(10), 10, 1));
    w.ok(10, 10, delegate_stack(12, stx(3_000_000), pox(10), 10, 2));
    w.ok(10, 10, delegate_stack(13, stx(2_000_000), pox(10), 10, 1));
}

/// Seed flow (operating a pool): three delegations, delegate-stack-stx for each,
/// stack-aggregation-commit-indexed, a fourth delegator, stack-aggregation-increase with a new
/// signature, then delegate-stack-extend and delegate-stack-increase.
#[test]
fn pool_with_three_delegators_commits_indexed_then_increases() {
    let mut w = World::new();
    alice_stacks(&mut w); // index 0 of cycles 1 and 2 is alice's
    w.ok(11, 2, delegate(stx(20_000_000), 10, None, None));
    w.ok(
        12,
        2,
        delegate(stx(20_000_000), 10, Some(1000), Some(pox(10))),
    );
    w.ok(13, 2, delegate(stx(20_000_000), 10, None, Some(pox(10))));
    let out = w.ok(10, 10, delegate_stack(11, stx(4_000_000), pox(10), 10, 1));
    assert_eq!(
        out,
        CallOutput::DelegateStacked {
            stacker: who(11),
            lock_amount: stx(4_000_000),
            unlock_burn_height: 121
        }
    );
    w.ok(10, 10, delegate_stack(12, stx(3_000_000), pox(10), 10, 2));
    w.ok(10, 10, delegate_stack(13, stx(2_000_000), pox(10), 10, 1));
    assert_eq!(w.account(12, 10).unlock_height, 181);
    assert_eq!(
        w.st.partial_stacked(&pox(10), 1, &who(10)),
        Some(stx(9_000_000))
    );
    assert_eq!(
        w.st.partial_stacked(&pox(10), 2, &who(10)),
        Some(stx(3_000_000))
    );
    // Delegated stackers have a stacking-state with no reward-set indexes.
    let s = w.st.stacking_state(&who(11)).unwrap();
    assert_eq!(
        (s.reward_set_indexes.is_empty(), s.delegated_to.clone()),
        (true, Some(who(10)))
    );

    // Aggregation calls sign the target cycle with period 1 and the partial amount.
    let commit = signed(110, &pox(10), 1, Topic::AggCommit, 1, 9_000_000 * STX, 7);
    let out = w.ok(10, 12, commit_indexed(10, 1, commit));
    assert_eq!(out, CallOutput::Index(1));
    let e = w.st.reward_set_entry(1, 1).unwrap();
    assert_eq!(
        (e.total_ustx, e.stacker.clone(), e.signer),
        (stx(9_000_000), None, key(110))
    );
    assert_eq!(w.st.total_ustx_stacked(1), stx(19_000_000));
    assert_eq!(w.st.partial_stacked(&pox(10), 1, &who(10)), None);
    assert_eq!(
        w.st.logged_partial_stacked(&pox(10), 1, &who(10)),
        Some(stx(9_000_000))
    );

    // A fourth delegator joins; the increase needs a fresh signature over the new entry total.
    w.ok(14, 15, delegate(stx(10_000_000), 10, None, None));
    w.ok(10, 20, delegate_stack(14, stx(1_000_000), pox(10), 20, 1));
    let stale = signed(110, &pox(10), 1, Topic::AggIncrease, 1, 9_000_000 * STX, 8);
    let increase = |signer| Call::StackAggregationIncrease {
        pox_addr: pox(10),
        reward_cycle: 1,
        reward_cycle_index: 1,
        signer,
    };
    w.fails(10, 21, increase(stale), 38);
    let fresh = signed(110, &pox(10), 1, Topic::AggIncrease, 1, 10_000_000 * STX, 8);
    assert_eq!(
        w.ok(10, 21, increase(fresh.clone())),
        CallOutput::Bool(true)
    );
    assert_eq!(
        w.st.reward_set_entry(1, 1).unwrap().total_ustx,
        stx(10_000_000)
    );
    assert_eq!(w.st.total_ustx_stacked(1), stx(20_000_000));
    assert_eq!(
        w.st.logged_partial_stacked(&pox(10), 1, &who(10)),
        Some(stx(1_000_000))
    );
    // The partial amount is gone, so the same increase cannot run twice.
    w.fails(10, 22, increase(fresh), 4);

    // The legacy commit for cycle 2 returns true.
    let commit2 = signed(110, &pox(10), 2, Topic::AggCommit, 1, u128::MAX, 9);
    let out = w.ok(
        10,
        25,
        Call::StackAggregationCommit {
            pox_addr: pox(10),
            reward_cycle: 2,
            signer: commit2,
        },
    );
    assert_eq!(out, CallOutput::Bool(true));
    assert_eq!(
        w.st.reward_set_entry(2, 1).unwrap().total_ustx,
        stx(3_000_000)
    );

    // delegate-stack-extend: 13's one-cycle lock grows to cycle 2.
    let out = w.ok(
        10,
        30,
        Call::DelegateStackExtend {
            stacker: who(13),
            pox_addr: pox(10),
            extend_count: 1,
        },
    );
    assert_eq!(
        out,
        CallOutput::Extended {
            stacker: who(13),
            unlock_burn_height: 181
        }
    );
    let s = w.st.stacking_state(&who(13)).unwrap();
    assert_eq!((s.first_reward_cycle, s.lock_period), (1, 2));
    assert_eq!(
        w.st.partial_stacked(&pox(10), 2, &who(10)),
        Some(stx(2_000_000))
    );

    // delegate-stack-increase: 11 locks 1M more for the cycles left (cycle 1).
    let out = w.ok(
        10,
        30,
        Call::DelegateStackIncrease {
            stacker: who(11),
            pox_addr: pox(10),
            increase_by: stx(1_000_000),
        },
    );
    assert_eq!(
        out,
        CallOutput::Increased {
            stacker: who(11),
            total_locked: stx(5_000_000)
        }
    );
    assert_eq!(w.account(11, 30).locked, stx(5_000_000));
    assert_eq!(
        w.st.partial_stacked(&pox(10), 1, &who(10)),
        Some(stx(1_000_000))
    );

    // Reward set of cycle 1: alice 10M (3 slots), the pool 10M (3 slots), in list order.
    let set = w.st.reward_set(RewardCycle(1), &w.params).unwrap();
    let slots: Vec<_> = set
        .addresses
        .iter()
        .map(|a| (a.pox_addr.clone(), a.slots))
        .collect();
    assert_eq!(slots, vec![(pox(1), 3), (pox(10), 3)]);
    let signers: Vec<_> = set
        .signers
        .iter()
        .map(|s| (s.signer_key, s.weight, s.first_slot))
        .collect();
    assert_eq!(signers, vec![(key(101), 3, 0), (key(110), 3, 3)]);
    assert_eq!((set.signer_slots, set.signing_threshold), (6, 5));
    assert_eq!(w.st.total_balances(), Some(w.st.liquid_supply()));

    // revoke-delegate-stx returns the delegation it revoked; a second revoke fails.
    let out = w.ok(11, 40, Call::RevokeDelegateStx);
    let CallOutput::Revoked(d) = out else {
        panic!("{out:?}")
    };
    assert_eq!((d.amount_ustx, d.delegated_to), (stx(20_000_000), who(10)));
    w.fails(11, 41, Call::RevokeDelegateStx, 34);
}

/// Signer-key authorizations stored with set-signer-key-authorization replace signatures.
#[test]
fn stored_authorization_replaces_a_signature_once() {
    let mut w = World::new();
    let signer = 101u8; // the signer key's owner transacts as who(101)
    w.st.mint(&who(signer), stx(1)).unwrap();
    let set_auth = |allowed: bool| Call::SetSignerKeyAuthorization {
        pox_addr: pox(1),
        period: 2,
        reward_cycle: 0,
        topic: "stack-stx".into(),
        signer_key: key(signer),
        allowed,
        max_amount: u128::MAX,
        auth_id: 5,
    };
    let args = SignerArgs {
        signer_sig: None,
        signer_key: key(signer),
        max_amount: u128::MAX,
        auth_id: 5,
    };
    // Without the authorization: ERR_NOT_ALLOWED.
    w.fails(1, 5, stack_stx(stx(1_000_000), 5, 2, args.clone()), 19);
    // Only the key's owner may set it.
    w.fails(1, 5, set_auth(true), 19);
    assert_eq!(w.ok(signer, 5, set_auth(true)), CallOutput::Bool(true));
    // Disabled again, then re-enabled.
    assert_eq!(w.ok(signer, 5, set_auth(false)), CallOutput::Bool(false));
    w.fails(1, 5, stack_stx(stx(1_000_000), 5, 2, args.clone()), 19);
    w.ok(signer, 5, set_auth(true));
    w.ok(1, 5, stack_stx(stx(1_000_000), 5, 2, args.clone()));
    let used = AuthKey {
        signer_key: key(signer),
        reward_cycle: 0,
        period: 2,
        topic: "stack-stx".into(),
        pox_addr: pox(1),
        auth_id: 5,
        max_amount: u128::MAX,
    };
    assert!(w.st.is_authorization_used(&used));
    w.fails(2, 5, stack_stx(stx(1_000_000), 5, 2, args), 39);
}

// ------------------------------------------------------------------ error paths, per call

#[test]
fn stack_stx_errors() {
    let mut w = World::new();
    let good = |auth: u128| signed(101, &pox(1), 0, Topic::StackStx, 2, u128::MAX, auth);
    // Start height in another cycle.
    w.fails(1, 5, stack_stx(stx(1_000_000), 65, 2, good(1)), 24);
    // Called through a contract the stacker never allowed.
    w.fails_in(
        &through_contract(1, 5),
        stack_stx(stx(1_000_000), 5, 2, good(1)),
        9,
    );
    // More than the unlocked balance.
    w.fails(1, 5, stack_stx(stx(50_000_001), 5, 2, good(1)), 1);
    // Signature problems.
    let mut tampered = good(1);
    tampered.auth_id = 2; // the signature covers auth-id 1
    w.fails(1, 5, stack_stx(stx(1_000_000), 5, 2, tampered), 35);
    let mut bad_v = good(1);
    bad_v.signer_sig.as_mut().unwrap()[64] = 7;
    w.fails(1, 5, stack_stx(stx(1_000_000), 5, 2, bad_v), 36);
    let mut short = good(1);
    short.signer_sig.as_mut().unwrap().truncate(64);
    w.fails(1, 5, stack_stx(stx(1_000_000), 5, 2, short), 36);
    let capped = signed(101, &pox(1), 0, Topic::StackStx, 2, 999_999 * STX, 1);
    w.fails(1, 5, stack_stx(stx(1_000_000), 5, 2, capped), 38);
    let wrong_cycle = signed(101, &pox(1), 1, Topic::StackStx, 2, u128::MAX, 1);
    w.fails(1, 5, stack_stx(stx(1_000_000), 5, 2, wrong_cycle), 35);
    let wrong_topic = signed(101, &pox(1), 0, Topic::StackExtend, 2, u128::MAX, 1);
    w.fails(1, 5, stack_stx(stx(1_000_000), 5, 2, wrong_topic), 35);
    // Below the stacking minimum: the authorization is not consumed by the failed call.
    w.fails(1, 5, stack_stx(stx(124_999), 5, 2, good(1)), 11);
    // Lock periods 0 and 13 (signed for those periods).
    for period in [0, 13] {
        let s = signed(101, &pox(1), 0, Topic::StackStx, period, u128::MAX, 1);
        w.fails(1, 5, stack_stx(stx(1_000_000), 5, period, s), 2);
    }
    // Invalid PoX addresses: version 7, and a 32-byte hash for a 20-byte version.
    for bad in [
        PoxAddress {
            version: 7,
            hashbytes: vec![1; 20],
        },
        PoxAddress {
            version: 0,
            hashbytes: vec![1; 32],
        },
    ] {
        let s = signed(101, &bad, 0, Topic::StackStx, 2, u128::MAX, 1);
        let call = Call::StackStx {
            amount_ustx: stx(1_000_000),
            pox_addr: bad,
            start_burn_ht: 5,
            lock_period: 2,
            signer: s,
        };
        w.fails(1, 5, call, 13);
    }
    // A start height below the first burn height aborts (Clarity underflow), with no code.
    let err = w
        .call(1, 5, stack_stx(stx(1_000_000), 0, 2, good(1)))
        .unwrap_err();
    assert!(matches!(err, PoxError::Runtime(_)), "{err}");
    // Success, then: already stacked; and a delegating account cannot stack.
    w.ok(1, 5, stack_stx(stx(1_000_000), 5, 2, good(1)));
    w.fails(1, 6, stack_stx(stx(1_000_000), 6, 2, good(2)), 3);
    w.ok(2, 6, delegate(stx(1_000_000), 10, None, None));
    let s2 = signed(102, &pox(1), 0, Topic::StackStx, 2, u128::MAX, 1);
    w.fails(2, 6, stack_stx(stx(1_000_000), 6, 2, s2), 20);
    // Over-long arguments are type errors.
    let mut long = good(3);
    long.signer_sig.as_mut().unwrap().push(0);
    let err = w
        .call(3, 5, stack_stx(stx(1_000_000), 5, 2, long))
        .unwrap_err();
    assert!(matches!(err, PoxError::Runtime(_)), "{err}");
}

fn extend(count: u128, signer: SignerArgs) -> Call {
    Call::StackExtend {
        extend_count: count,
        pox_addr: pox(1),
        signer,
    }
}

#[test]
fn stack_extend_errors() {
    let mut w = World::new();
    let sig = |count, auth| signed(101, &pox(1), 0, Topic::StackExtend, count, u128::MAX, auth);
    // Not stacking at all.
    w.fails(1, 10, extend(1, sig(1, 1)), 26);
    alice_stacks(&mut w);
    w.fails(1, 10, extend(0, sig(0, 1)), 2);
    // 2 + 11 cycles exceeds 12.
    w.fails(1, 10, extend(11, sig(11, 1)), 2);
    // Signature checks (auth-id mismatch).
    let mut tampered = sig(1, 1);
    tampered.auth_id = 99;
    w.fails(1, 10, extend(1, tampered), 35);
    // Through an unallowed contract.
    let ctx = through_contract(1, 10);
    w.fails_in(&ctx, extend(1, sig(1, 1)), 9);
    // A stacker who later delegates cannot extend on its own.
    w.ok(1, 10, delegate(stx(1_000_000), 10, None, None));
    w.fails(1, 10, extend(1, sig(1, 1)), 20);
    w.ok(1, 10, Call::RevokeDelegateStx);
    // Minimum raised above the locked amount (the supply grows 100x).
    let mut rich = World::new();
    alice_stacks(&mut rich);
    rich.st.mint(&who(20), stx(99_000_000_000)).unwrap();
    rich.fails(1, 10, extend(1, sig(1, 1)), 11);
    // Invalid pox address.
    let bad = PoxAddress {
        version: 6,
        hashbytes: vec![0; 20],
    };
    let s = signed(101, &bad, 0, Topic::StackExtend, 1, u128::MAX, 1);
    w.fails(
        1,
        10,
        Call::StackExtend {
            extend_count: 1,
            pox_addr: bad,
            signer: s,
        },
        13,
    );
    // A delegated stacker cannot use stack-extend.
    pool(&mut w);
    let s = signed(111, &pox(1), 0, Topic::StackExtend, 1, u128::MAX, 1);
    w.fails(11, 20, extend(1, s), 30);
    // The extension itself works.
    w.ok(1, 10, extend(1, sig(1, 1)));
}

#[test]
fn stack_increase_errors() {
    let mut w = World::new();
    let inc = |by: MicroStx, signer| Call::StackIncrease {
        increase_by: by,
        signer,
    };
    let sig = |auth| signed(101, &pox(1), 0, Topic::StackIncrease, 2, u128::MAX, auth);
    w.fails(1, 10, inc(stx(1), sig(1)), 27);
    alice_stacks(&mut w);
    w.fails(1, 10, inc(MicroStx::ZERO, sig(1)), 18);
    w.fails(1, 10, inc(stx(40_000_001), sig(1)), 1);
    let capped = signed(
        101,
        &pox(1),
        0,
        Topic::StackIncrease,
        2,
        10_000_000 * STX,
        1,
    );
    w.fails(1, 10, inc(stx(1), capped), 38);
    let wrong_period = signed(101, &pox(1), 0, Topic::StackIncrease, 1, u128::MAX, 1);
    w.fails(1, 10, inc(stx(1), wrong_period), 35);
    let other_key = signed(102, &pox(1), 0, Topic::StackIncrease, 2, u128::MAX, 1);
    w.fails(1, 10, inc(stx(1), other_key), 40);
    let ctx = through_contract(1, 10);
    w.fails_in(&ctx, inc(stx(1), sig(1)), 9);
    // After the unlock height the lock is gone: not locked.
    w.fails(
        1,
        181,
        inc(
            stx(1),
            signed(101, &pox(1), 3, Topic::StackIncrease, 2, u128::MAX, 1),
        ),
        27,
    );
    // Delegated stackers cannot use stack-increase.
    pool(&mut w);
    let s = signed(111, &pox(10), 0, Topic::StackIncrease, 1, u128::MAX, 1);
    w.fails(11, 20, inc(stx(1), s), 30);
    w.ok(1, 10, inc(stx(1), sig(1)));
}

#[test]
fn delegate_stx_and_revoke_errors() {
    let mut w = World::new();
    let ctx = through_contract(1, 10);
    let d = delegate(stx(1), 10, None, None);
    w.fails_in(&ctx, d, 9);
    w.fails_in(&ctx, Call::RevokeDelegateStx, 9);
    for bad in [
        PoxAddress {
            version: 7,
            hashbytes: vec![0; 20],
        },
        PoxAddress {
            version: 5,
            hashbytes: vec![0; 20],
        },
    ] {
        w.fails(1, 10, delegate(stx(1), 10, None, Some(bad)), 13);
    }
    w.fails(1, 10, Call::RevokeDelegateStx, 34);
    w.ok(1, 10, delegate(stx(1), 10, Some(20), None));
    w.fails(1, 10, delegate(stx(1), 11, None, None), 20);
    // The delegation expires after height 20: it can no longer be revoked, and a new one can
    // be made.
    w.fails(1, 21, Call::RevokeDelegateStx, 34);
    w.ok(1, 21, delegate(stx(1), 11, None, None));
    assert_eq!(
        w.st.check_delegation(&who(1), BurnHeight(21))
            .unwrap()
            .delegated_to,
        who(11)
    );
}

#[test]
fn contract_caller_allowances() {
    let mut w = World::new();
    let contract = Principal::contract(*who(2).standard().unwrap(), "pool").unwrap();
    let via = |h: u32| CallContext {
        sender: who(1),
        caller: contract.clone(),
        burn_height: BurnHeight(h),
    };
    let allow = Call::AllowContractCaller {
        caller: contract.clone(),
        until_burn_ht: Some(30),
    };
    // Allowances can only be granted directly.
    assert_eq!(w.st.execute(&via(5), &allow).unwrap_err().code(), Some(9));
    assert_eq!(w.ok(1, 5, allow), CallOutput::Bool(true));
    let d = delegate(stx(1), 10, None, None);
    assert_eq!(w.st.execute(&via(10), &d).unwrap(), CallOutput::Bool(true));
    w.st.execute(&via(11), &Call::RevokeDelegateStx).unwrap();
    // Expired at height 30.
    assert_eq!(w.st.execute(&via(30), &d).unwrap_err().code(), Some(9));
    let disallow = Call::DisallowContractCaller {
        caller: contract.clone(),
    };
    assert_eq!(
        w.st.execute(&via(12), &disallow).unwrap_err().code(),
        Some(9)
    );
    assert_eq!(w.ok(1, 12, disallow.clone()), CallOutput::Bool(true));
    assert_eq!(w.ok(1, 12, disallow), CallOutput::Bool(false));
    assert_eq!(w.st.allowance(&who(1), &contract), None);
}

#[test]
fn delegate_stack_stx_errors() {
    let mut w = World::new();
    w.ok(
        11,
        2,
        delegate(stx(5_000_000), 10, Some(150), Some(pox(10))),
    );
    w.fails(
        10,
        5,
        delegate_stack(11, stx(1_000_000), pox(10), 65, 1),
        24,
    );
    // No delegation, or delegated to someone else.
    w.fails(10, 5, delegate_stack(12, stx(1_000_000), pox(10), 5, 1), 9);
    w.fails(9, 5, delegate_stack(11, stx(1_000_000), pox(10), 5, 1), 9);
    w.fails(10, 5, delegate_stack(11, stx(5_000_001), pox(10), 5, 1), 22);
    w.fails(10, 5, delegate_stack(11, stx(1_000_000), pox(9), 5, 1), 23);
    // Unlock at 181 is after the delegation's end (150).
    w.fails(10, 5, delegate_stack(11, stx(1_000_000), pox(10), 5, 2), 21);
    w.fails(10, 5, delegate_stack(11, MicroStx::ZERO, pox(10), 5, 1), 18);
    w.ok(12, 2, delegate(stx(90_000_000), 10, None, None));
    w.fails(10, 5, delegate_stack(12, stx(50_000_001), pox(10), 5, 1), 1);
    w.fails(10, 5, delegate_stack(12, stx(1), pox(10), 5, 13), 2);
    let bad = PoxAddress {
        version: 4,
        hashbytes: vec![0; 32],
    };
    w.fails(10, 5, delegate_stack(12, stx(1), bad, 5, 1), 13);
    let ctx = through_contract(10, 5);
    let call = delegate_stack(11, stx(1_000_000), pox(10), 5, 1);
    w.fails_in(&ctx, call.clone(), 9);
    w.ok(10, 5, call.clone());
    w.fails(10, 5, call, 3);
}

#[test]
fn delegate_stack_extend_errors() {
    let mut w = World::new();
    let ext = |stacker: u8, addr: PoxAddress, count: u128| Call::DelegateStackExtend {
        stacker: who(stacker),
        pox_addr: addr,
        extend_count: count,
    };
    w.fails(10, 20, ext(11, pox(10), 1), 26);
    pool(&mut w);
    alice_stacks(&mut w);
    w.fails(10, 20, ext(11, pox(10), 0), 2);
    w.fails(10, 20, ext(1, pox(1), 1), 31); // alice stacks solo
    w.fails(9, 20, ext(11, pox(10), 1), 9); // not 11's delegate
    w.fails(10, 20, ext(11, pox(10), 12), 2); // 1 + 12 cycles
    w.fails(10, 20, ext(13, pox(9), 1), 23); // 13 requires pox(10)
    w.fails(10, 20, ext(12, pox(10), 12), 2);
    // 12's delegation ends at 1000: extending to 12 cycles (unlock 781) is fine, 17 is not
    // possible anyway; use a short-lived delegation instead.
    w.ok(15, 2, delegate(stx(5_000_000), 10, Some(130), None));
    w.ok(10, 10, delegate_stack(15, stx(1_000_000), pox(10), 10, 1));
    w.fails(10, 20, ext(15, pox(10), 1), 21);
    // Revoked delegation: no permission.
    w.ok(11, 21, Call::RevokeDelegateStx);
    w.fails(10, 22, ext(11, pox(10), 1), 9);
    // Re-delegated with a smaller amount than is locked.
    w.ok(11, 22, delegate(stx(1_000_000), 10, None, None));
    w.fails(10, 23, ext(11, pox(10), 1), 22);
    let bad = PoxAddress {
        version: 9,
        hashbytes: vec![0; 20],
    };
    w.fails(10, 23, ext(13, bad, 1), 23);
    w.ok(10, 23, ext(13, pox(10), 1));
}

#[test]
fn delegate_stack_increase_errors() {
    let mut w = World::new();
    let inc = |stacker: u8, addr: PoxAddress, by: MicroStx| Call::DelegateStackIncrease {
        stacker: who(stacker),
        pox_addr: addr,
        increase_by: by,
    };
    w.fails(10, 20, inc(11, pox(10), MicroStx::ZERO), 18);
    // Not locked: unlock height 0 lies before the first burn height, and Clarity aborts.
    let err = w.call(10, 20, inc(11, pox(10), stx(1))).unwrap_err();
    assert!(matches!(err, PoxError::Runtime(_)), "{err}");
    pool(&mut w);
    alice_stacks(&mut w);
    // 11 unlocks at the end of cycle 1: in cycle 1 there is no later cycle to increase.
    w.fails(10, 70, inc(11, pox(10), stx(1)), 2);
    w.fails(10, 20, inc(1, pox(1), stx(1)), 31);
    w.fails(9, 20, inc(11, pox(10), stx(1)), 9);
    w.fails(10, 20, inc(11, pox(10), stx(46_000_001)), 1);
    w.fails(10, 20, inc(11, pox(10), stx(16_000_001)), 22);
    w.fails(10, 20, inc(12, pox(9), stx(1)), 23);
    w.ok(15, 2, delegate(stx(5_000_000), 10, Some(130), None));
    w.ok(10, 10, delegate_stack(15, stx(1_000_000), pox(10), 10, 1));
    w.ok(15, 11, Call::RevokeDelegateStx);
    w.ok(15, 11, delegate(stx(5_000_000), 10, Some(120), None));
    w.fails(10, 20, inc(15, pox(10), stx(1)), 21);
    w.ok(11, 21, Call::RevokeDelegateStx);
    w.fails(10, 22, inc(11, pox(10), stx(1)), 9);
    w.ok(10, 22, inc(12, pox(10), stx(1)));
}

#[test]
fn stack_aggregation_commit_errors() {
    let mut w = World::new();
    let commit = |cycle: u128, signer| commit_indexed(10, cycle, signer);
    let sig = |cycle, max, auth| signed(110, &pox(10), cycle, Topic::AggCommit, 1, max, auth);
    w.fails(10, 20, commit(1, sig(1, u128::MAX, 1)), 4);
    pool(&mut w);
    w.fails(10, 20, commit(1, sig(1, 8_999_999 * STX, 1)), 38);
    let wrong_cycle = sig(2, u128::MAX, 1);
    w.fails(10, 20, commit(1, wrong_cycle), 35);
    let period_two = signed(110, &pox(10), 1, Topic::AggCommit, 2, u128::MAX, 1);
    w.fails(10, 20, commit(1, period_two), 35);
    let no_sig = SignerArgs {
        signer_sig: None,
        signer_key: key(110),
        max_amount: u128::MAX,
        auth_id: 1,
    };
    w.fails(10, 20, commit(1, no_sig), 19);
    let ctx = through_contract(10, 20);
    w.fails_in(&ctx, commit(1, sig(1, u128::MAX, 1)), 9);
    // Below the minimum: a pool with only 100,000 STX.
    w.ok(16, 2, delegate(stx(100_000), 17, None, None));
    w.ok(17, 10, delegate_stack(16, stx(100_000), pox(17), 10, 1));
    let small = signed(117, &pox(17), 1, Topic::AggCommit, 1, u128::MAX, 1);
    w.fails(17, 20, commit_indexed(17, 1, small), 11);
    assert_eq!(
        w.ok(10, 20, commit(1, sig(1, u128::MAX, 1))),
        CallOutput::Index(0)
    );
    // The same signature again: the partial amount is gone first.
    w.fails(10, 20, commit(1, sig(1, u128::MAX, 1)), 4);
}

#[test]
fn stack_aggregation_increase_errors() {
    let mut w = World::new();
    let inc = |cycle: u128, index: u128, addr: PoxAddress, signer| Call::StackAggregationIncrease {
        pox_addr: addr,
        reward_cycle: cycle,
        reward_cycle_index: index,
        signer,
    };
    let sig = |addr: &PoxAddress, max, auth| signed(110, addr, 1, Topic::AggIncrease, 1, max, auth);
    w.fails(10, 20, inc(1, 0, pox(10), sig(&pox(10), u128::MAX, 1)), 4);
    alice_stacks(&mut w); // cycle 1 index 0: alice (solo)
    pool(&mut w);
    let commit = signed(110, &pox(10), 1, Topic::AggCommit, 1, u128::MAX, 1);
    w.ok(10, 12, commit_indexed(10, 1, commit)); // cycle 1 index 1: the pool
    w.ok(14, 13, delegate(stx(5_000_000), 10, None, None));
    w.ok(10, 14, delegate_stack(14, stx(1_000_000), pox(10), 14, 1));
    // Cycle 1 has started: too late.
    w.fails(10, 61, inc(1, 1, pox(10), sig(&pox(10), u128::MAX, 1)), 2);
    w.fails(10, 20, inc(1, 2, pox(10), sig(&pox(10), u128::MAX, 1)), 28);
    // Index 0 is alice's solo entry.
    w.fails(10, 20, inc(1, 0, pox(10), sig(&pox(10), u128::MAX, 1)), 29);
    w.fails(
        10,
        20,
        inc(1, 1, pox(10), sig(&pox(10), 9_999_999 * STX, 1)),
        38,
    );
    // Another signer key than the entry's.
    let other = signed(111, &pox(10), 1, Topic::AggIncrease, 1, u128::MAX, 1);
    w.fails(10, 20, inc(1, 1, pox(10), other), 32);
    let mut tampered = sig(&pox(10), u128::MAX, 1);
    tampered.auth_id = 2;
    w.fails(10, 20, inc(1, 1, pox(10), tampered), 35);
    let ctx = through_contract(10, 20);
    let good = inc(1, 1, pox(10), sig(&pox(10), u128::MAX, 1));
    w.fails_in(&ctx, good.clone(), 9);
    // A partial amount for pox(9), pointed at the pool's pox(10) entry.
    w.ok(15, 13, delegate(stx(5_000_000), 10, None, None));
    w.ok(10, 14, delegate_stack(15, stx(1_000_000), pox(9), 14, 1));
    w.fails(10, 20, inc(1, 1, pox(9), sig(&pox(9), u128::MAX, 1)), 29);
    w.ok(10, 20, good);
}

#[test]
fn set_signer_key_authorization_errors() {
    let mut w = World::new();
    let set = |period: u128, cycle: u128| Call::SetSignerKeyAuthorization {
        pox_addr: pox(1),
        period,
        reward_cycle: cycle,
        topic: "stack-stx".into(),
        signer_key: key(1),
        allowed: true,
        max_amount: 1,
        auth_id: 1,
    };
    w.fails(2, 70, set(1, 1), 19); // not the key's owner
    w.fails(1, 70, set(0, 1), 2);
    w.fails(1, 70, set(1, 0), 37); // cycle 0 is past at height 70
    let ctx = through_contract(1, 70);
    w.fails_in(&ctx, set(1, 1), 19);
    let long = Call::SetSignerKeyAuthorization {
        pox_addr: pox(1),
        period: 1,
        reward_cycle: 1,
        topic: "fifteen-chars!!".into(),
        signer_key: key(1),
        allowed: true,
        max_amount: 1,
        auth_id: 1,
    };
    assert!(matches!(w.call(1, 70, long), Err(PoxError::Runtime(_))));
    assert_eq!(w.ok(1, 70, set(1, 1)), CallOutput::Bool(true));
}

#[test]
fn reward_threshold_matches_stacks_core_rounding() {
    use tandem_consensus::stacking::reward_set::reward_threshold;
    // liquid/4/slots = 3,125,000 STX rounds up to 3,130,000.
    assert_eq!(
        reward_threshold(stx(0), stx(1_000_000_000), 80).unwrap(),
        stx(3_130_000)
    );
    // Participation above 25% scales the threshold instead: 600M / 80 = 7.5M -> 7.5M.
    assert_eq!(
        reward_threshold(stx(600_000_000), stx(1_000_000_000), 80).unwrap(),
        stx(7_500_000)
    );
    // Mainnet-like: 1.4B liquid, 400M stacked, 4000 slots -> 100,000 STX exactly.
    assert_eq!(
        reward_threshold(stx(400_000_000), stx(1_400_000_000), 4000).unwrap(),
        stx(100_000)
    );
    // Tiny supplies floor at one step.
    assert_eq!(reward_threshold(stx(1), stx(10), 80).unwrap(), stx(10_000));
    assert!(reward_threshold(stx(11), stx(10), 80).is_err());
    assert!(reward_threshold(stx(1), stx(10), 0).is_err());
}

/// Merging per address and per key, zero-weight signers, slot ranges and the 67% threshold.
#[test]
fn reward_set_merges_addresses_and_keys() {
    use tandem_consensus::stacking::StackedEntry;
    let e = |a: u8, amount: u128, k: u8| StackedEntry {
        pox_addr: pox(a),
        amount: stx(amount),
        signer: key(k),
    };
    // threshold: max(stacked 500M, 1B/4)/80 = 6.25M STX.
    let entries = [
        e(1, 100_000_000, 101),
        e(2, 50_000_000, 102),
        e(1, 30_000_000, 103), // merges into pox(1); new key 103
        e(3, 6_000_000, 104),  // below threshold: 0 slots, weight 0
        e(4, 314_000_000, 102),
    ];
    let set = RewardSet::compute(&entries, stx(1_000_000_000), 80).unwrap();
    assert_eq!(set.threshold, stx(6_250_000));
    let slots: Vec<_> = set
        .addresses
        .iter()
        .map(|a| (a.pox_addr.hashbytes[0], a.slots))
        .collect();
    assert_eq!(slots, vec![(1, 20), (2, 8), (3, 0), (4, 50)]);
    assert_eq!(set.payout_entries().len(), 78);
    let signers: Vec<_> = set
        .signers
        .iter()
        .map(|s| (s.signer_key, s.weight, s.first_slot))
        .collect();
    // key 101: 100M -> 16; key 102: 364M -> 58; key 103: 30M -> 4; key 104: 0 (dropped).
    assert_eq!(
        signers,
        vec![(key(101), 16, 0), (key(102), 58, 16), (key(103), 4, 74)]
    );
    assert_eq!((set.signer_slots, set.signing_threshold), (78, 53));
    assert_eq!(set.signer_of_slot(20).unwrap().signer_key, key(102));
    assert_eq!(set.signer_of_slot(4000 + 77).unwrap().signer_key, key(103));
    assert!(set.signer_of_slot(78).is_none());
    assert_eq!(set.signers[1].signing_slots(), 4016..4074);
}

/// The reward set is fixed at the first prepare-phase block (height 41 for cycle 1 on regtest),
/// and a stack-stx in the prepare phase misses that cycle but counts for the next.
#[test]
fn reward_set_is_fixed_at_the_prepare_phase_start() {
    let mut w = World::new();
    alice_stacks(&mut w);
    assert!(w
        .st
        .reward_set_at(&w.params, BurnHeight(40))
        .unwrap()
        .is_none());
    assert!(w
        .st
        .reward_set_at(&w.params, BurnHeight(42))
        .unwrap()
        .is_none());
    let (cycle, fixed) =
        w.st.reward_set_at(&w.params, BurnHeight(41))
            .unwrap()
            .unwrap();
    assert_eq!(cycle, RewardCycle(1));
    assert_eq!(fixed.signers.len(), 1);
    // Bob stacks at height 45 (prepare phase of cycle 0): his first cycle is still 1, whose set
    // was fixed at 41 without him, and he is in cycle 2's.
    let sig = signed(102, &pox(2), 0, Topic::StackStx, 2, u128::MAX, 1);
    let call = Call::StackStx {
        amount_ustx: stx(10_000_000),
        pox_addr: pox(2),
        start_burn_ht: 45,
        lock_period: 2,
        signer: sig,
    };
    w.ok(2, 45, call);
    let (_, cycle2) =
        w.st.reward_set_at(&w.params, BurnHeight(101))
            .unwrap()
            .unwrap();
    let keys: Vec<_> = cycle2.signers.iter().map(|s| s.signer_key).collect();
    assert_eq!(keys, vec![key(101), key(102)]);
    assert_eq!(fixed.signers[0].signer_key, key(101));
}

#[test]
fn pox_info_summary() {
    let mut w = World::new();
    alice_stacks(&mut w);
    let info = w.st.pox_info(&w.params, BurnHeight(30)).unwrap();
    assert_eq!(info.current_cycle.id, 0);
    assert_eq!(info.next_cycle.id, 1);
    assert_eq!(info.min_amount_ustx, stx(125_000));
    assert_eq!(info.min_threshold_ustx, stx(3_130_000));
    assert_eq!(info.next_cycle.stacked_ustx, stx(10_000_000));
    assert_eq!(info.next_cycle.prepare_phase_start_block_height, 41);
    assert_eq!(info.next_cycle.reward_phase_start_block_height, 61);
    assert_eq!(info.next_cycle.blocks_until_prepare_phase, 11);
    assert_eq!(info.next_cycle.blocks_until_reward_phase, 31);
    assert_eq!(info.reward_slots, 80);
    assert!(!info.current_cycle.is_pox_active);
    let later = w.st.pox_info(&w.params, BurnHeight(70)).unwrap();
    assert!(later.current_cycle.is_pox_active);
    assert_eq!(
        w.st.pox_info(&w.params, BurnHeight(45))
            .unwrap()
            .next_cycle
            .blocks_until_prepare_phase,
        0
    );
}

// ------------------------------------------------------------------ properties

#[derive(Clone, Debug)]
enum Op {
    Advance(u32),
    Transfer(u8, u8, u128),
    StackStx(u8, u128, u128),
    Delegate(u8, u8, u128),
    DelegateStack(u8, u8, u128, u128),
    Commit(u8, u128),
    Increase(u8, u128),
    Extend(u8, u128),
    DelegateIncrease(u8, u8, u128),
    DelegateExtend(u8, u8, u128),
    Revoke(u8),
}

/// Accounts 1-4 stack or delegate; 5 and 6 run pools (and may stack themselves).
fn op() -> impl Strategy<Value = Op> {
    let acct = 1u8..=6;
    let stacker = 1u8..=4;
    let pool = 5u8..=6;
    let amount = prop_oneof![1 => 0u128..=2, 4 => 100_000u128..=20_000_000];
    let period = prop_oneof![1 => 0u128..=13, 4 => 1u128..=4];
    prop_oneof![
        (1u32..40).prop_map(Op::Advance),
        (acct.clone(), acct.clone(), amount.clone()).prop_map(|(a, b, x)| Op::Transfer(a, b, x)),
        (acct.clone(), amount.clone(), period.clone()).prop_map(|(a, x, p)| Op::StackStx(a, x, p)),
        (stacker.clone(), pool.clone(), amount.clone()).prop_map(|(a, b, x)| Op::Delegate(a, b, x)),
        (
            pool.clone(),
            stacker.clone(),
            amount.clone(),
            period.clone()
        )
            .prop_map(|(p, a, x, n)| Op::DelegateStack(p, a, x, n)),
        (pool.clone(), 0u128..=3).prop_map(|(p, c)| Op::Commit(p, c)),
        (acct.clone(), amount.clone()).prop_map(|(a, x)| Op::Increase(a, x)),
        (acct.clone(), period.clone()).prop_map(|(a, n)| Op::Extend(a, n)),
        (pool.clone(), stacker.clone(), amount).prop_map(|(p, a, x)| Op::DelegateIncrease(p, a, x)),
        (pool, stacker.clone(), period).prop_map(|(p, a, n)| Op::DelegateExtend(p, a, n)),
        stacker.prop_map(Op::Revoke),
    ]
}

/// The pool a stacker delegates to, so that generated pool calls usually have permission.
fn pool_of(w: &World, a: u8, h: u32) -> Option<u8> {
    let d = w.st.check_delegation(&who(a), BurnHeight(h))?;
    (5..=6).find(|&p| d.delegated_to == who(p))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// No call creates or destroys micro-STX; a failed call changes nothing; locked balances
    /// are always backed by a stacking-state record until they unlock.
    #[test]
    fn calls_conserve_stx_and_fail_atomically(ops in proptest::collection::vec(op(), 1..40)) {
        let mut w = World::new();
        let mut h = 5u32;
        for (n, op) in ops.into_iter().enumerate() {
            let cycle = u128::from((h - 1) / 60);
            let auth = n as u128;
            let (sender, call) = match op {
                Op::Advance(d) => { h += d; continue; }
                Op::Transfer(a, b, x) => {
                    let before = w.st.clone();
                    if w.st.transfer(&who(a), &who(b), MicroStx(x * STX), BurnHeight(h)).is_err() {
                        prop_assert!(w.st == before);
                    }
                    prop_assert_eq!(w.st.total_balances(), Some(w.st.liquid_supply()));
                    continue;
                }
                Op::StackStx(a, x, p) => (a, stack_stx(MicroStx(x * STX), h, p,
                    signed(100 + a, &pox(1), cycle, Topic::StackStx, p, u128::MAX, auth))),
                Op::Delegate(a, b, x) => (a, delegate(MicroStx(x * STX), b, None, None)),
                Op::DelegateStack(p, a, x, n) => {
                    let p = pool_of(&w, a, h).unwrap_or(p);
                    (p, delegate_stack(a, MicroStx(x * STX), pox(p), h, n))
                }
                Op::Commit(p, offset) => {
                    // Mostly the next cycle; sometimes the current one or later ones.
                    let c = cycle + offset;
                    (p, commit_indexed(p, c,
                        signed(100 + p, &pox(p), c, Topic::AggCommit, 1, u128::MAX, auth)))
                }
                Op::Increase(a, x) => {
                    let period = w.st.stacking_state(&who(a)).map_or(1, |s| s.lock_period);
                    (a, Call::StackIncrease { increase_by: MicroStx(x * STX),
                        signer: signed(100 + a, &pox(1), cycle, Topic::StackIncrease, period, u128::MAX, auth) })
                }
                Op::Extend(a, n) => (a, extend(n, signed(100 + a, &pox(1), cycle, Topic::StackExtend, n, u128::MAX, auth))),
                Op::DelegateIncrease(p, a, x) => (pool_of(&w, a, h).unwrap_or(p), Call::DelegateStackIncrease {
                    stacker: who(a), pox_addr: pox(p), increase_by: MicroStx(x * STX) }),
                Op::DelegateExtend(p, a, n) => (pool_of(&w, a, h).unwrap_or(p), Call::DelegateStackExtend {
                    stacker: who(a), pox_addr: pox(p), extend_count: n }),
                Op::Revoke(a) => (a, Call::RevokeDelegateStx),
            };
            let before = w.st.clone();
            if w.call(sender, h, call).is_err() {
                prop_assert!(w.st == before);
            }
            prop_assert_eq!(w.st.total_balances(), Some(w.st.liquid_supply()));
            for i in 1..=6 {
                let acct = w.account(i, h);
                if acct.locked > MicroStx::ZERO {
                    prop_assert!(w.st.stacker_info(&who(i), BurnHeight(h)).unwrap().is_some());
                }
            }
        }
    }
}

// ------------------------------------------------------------------ pox-5 (selectable)

/// A world whose chain runs `pox`.
fn world_with(pox: tandem_consensus::PoxVersion) -> World {
    let mut spec = tandem_consensus::ParamsSpec::preset(Network::Regtest);
    spec.pox = pox;
    let params = NetworkParams::new(spec).unwrap();
    let mut st = PoxState::new(PoxConfig::from_params(&params));
    for i in 1..=20 {
        st.mint(&who(i), stx(50_000_000)).unwrap();
    }
    World { st, params }
}

/// The same pool under both rules: alice stacks solo (key 101); three stackers delegate to
/// operator 10, which commits their 9M STX with its key 110. Under pox-4 the pool's stake
/// signs with 110; under pox-5 each delegator named its own key in `delegate-stx` (SIP: "so
/// delegated stackers sign for themselves") and signs with the slots its own stake earns. The
/// PoX payouts are the same.
#[test]
fn pox_5_delegators_sign_for_themselves() {
    use tandem_consensus::PoxVersion;
    let run = |rules: PoxVersion| {
        let mut w = world_with(rules);
        alice_stacks(&mut w);
        for (stacker, amount) in [(11u8, 4_000_000u128), (12, 3_000_000), (13, 2_000_000)] {
            let mut d = delegate(stx(20_000_000), 10, None, Some(pox(10)));
            if let Call::DelegateStx { signer_key, .. } = &mut d {
                *signer_key = (rules == PoxVersion::Pox5).then(|| key(100 + stacker));
            }
            w.ok(stacker, 2, d);
            w.ok(10, 10, delegate_stack(stacker, stx(amount), pox(10), 10, 1));
        }
        let commit = signed(110, &pox(10), 1, Topic::AggCommit, 1, 9_000_000 * STX, 7);
        w.ok(10, 12, commit_indexed(10, 1, commit));
        w.st.reward_set(tandem_consensus::RewardCycle(1), &w.params)
            .unwrap()
    };
    let (four, five) = (run(PoxVersion::Pox4), run(PoxVersion::Pox5));
    let weights = |r: &tandem_consensus::stacking::RewardSet| {
        r.signers
            .iter()
            .map(|s| (s.signer_key, s.weight))
            .collect::<Vec<_>>()
    };
    // Threshold: 19M stacked, 1B liquid -> max(19M, 250M) / 80 slots = 3.125M, rounded up to
    // 3.13M STX.
    assert_eq!(four.threshold, five.threshold);
    assert_eq!(four.threshold, stx(3_130_000));
    assert_eq!(weights(&four), vec![(key(101), 3), (key(110), 2)]);
    // pox-5: 4M, 3M and 2M each alone: 1, 0 and 0 slots (the latter two do not sign).
    assert_eq!(weights(&five), vec![(key(101), 3), (key(111), 1)]);
    assert_eq!(four.payout_entries(), five.payout_entries());

    // delegate-stx takes a key under pox-5 only.
    let mut w4 = world_with(PoxVersion::Pox4);
    let mut keyed = delegate(stx(1), 10, None, None);
    if let Call::DelegateStx { signer_key, .. } = &mut keyed {
        *signer_key = Some(key(111));
    }
    let err = w4.call(11, 2, keyed.clone()).unwrap_err();
    assert_eq!(err, PoxError::SignerKeyNotInPox4);
    let mut w5 = world_with(PoxVersion::Pox5);
    let err = w5
        .call(11, 2, delegate(stx(1), 10, None, None))
        .unwrap_err();
    assert_eq!(err, PoxError::DelegateSignerKeyRequired);
    w5.ok(11, 2, keyed);
}
