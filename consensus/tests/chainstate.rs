//! Chainstate: transactions, rewards, costs and the state root; block encoding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use secp256k1::{PublicKey, Secp256k1, SecretKey};
use tandem_consensus::chain::block::{txs_hash, Body, BLOCK_VERSION, HEADER_BYTES};
use tandem_consensus::chain::tx::MEMO_LEN;
use tandem_consensus::chain::{
    ApplyError, Block, BlockError, BlockHeader, BlockId, BlockRewards, Chainstate, Coinbase, Cost,
    Expected, Genesis, GenesisStacker, Payload, Transaction, UnsignedBlock, UnsignedTx,
};
use tandem_consensus::codec::DecodeError;
use tandem_consensus::stacking::{Call, PoxAddress, PoxError, Principal, SignerKey, StacksAddress};
use tandem_consensus::{BurnHeight, MicroStx, Network, NetworkParams, Sats, Term};
use tandem_wfrost::AccountableSignature;

fn sk(i: u8) -> SecretKey {
    SecretKey::from_slice(&[i; 32]).unwrap()
}

fn pk(i: u8) -> [u8; 33] {
    PublicKey::from_secret_key(&Secp256k1::new(), &sk(i)).serialize()
}

fn who(i: u8) -> Principal {
    StacksAddress::from_public_key(&pk(i), Network::Regtest).into()
}

fn params() -> NetworkParams {
    NetworkParams::preset(Network::Regtest)
}

const STX: u128 = 1_000_000;
const H: BurnHeight = BurnHeight(5);
const BIG: Cost = Cost {
    write_count: 1_000_000,
    write_length: 1_000_000_000,
    tx_bytes: 1_000_000_000,
    read_count: 1_000_000,
    read_length: 1_000_000_000,
    runtime: 1_000_000_000_000,
};

fn genesis() -> Chainstate {
    Chainstate::genesis(
        &params(),
        &Genesis {
            balances: (1..=4)
                .map(|i| (who(i), MicroStx(1_000_000 * STX)))
                .collect(),
            stackers: vec![GenesisStacker {
                stacker: who(4),
                amount: MicroStx(500_000 * STX),
                pox_addr: PoxAddress {
                    version: 0,
                    hashbytes: vec![4; 20],
                },
                lock_period: 2,
                signer_key: SignerKey(pk(9)),
            }],
            pools: vec![],
        },
    )
    .unwrap()
}

fn tx(from: u8, nonce: u64, fee: u64, payload: Payload) -> Transaction {
    UnsignedTx {
        chain_id: 0x8000_0000,
        nonce,
        fee,
        sender_key: pk(from),
        payload,
    }
    .sign(&sk(from))
    .unwrap()
}

fn transfer(from: u8, to: u8, nonce: u64, fee: u64, amount: u128) -> Transaction {
    tx(
        from,
        nonce,
        fee,
        Payload::TokenTransfer {
            recipient: who(to),
            amount: MicroStx(amount),
            memo: [0; MEMO_LEN],
        },
    )
}

fn balance(cs: &Chainstate, i: u8) -> u128 {
    cs.pox().stx_get_balance(&who(i), H).0
}

#[test]
fn genesis_locks_the_stacker_and_roots_agree() {
    let mut cs = genesis();
    let a = cs.pox().stx_account(&who(4), H);
    assert_eq!(a.locked, MicroStx(500_000 * STX));
    // Regtest: cycle 60 blocks from height 1, two cycles -> unlock at 121.
    assert_eq!(a.unlock_height, 121);
    let set = cs
        .pox()
        .reward_set(tandem_consensus::RewardCycle(0), &params())
        .unwrap();
    assert_eq!(set.signers.len(), 1);
    assert_eq!(cs.state_root(), cs.state_root_from_scratch());
}

#[test]
fn a_genesis_stacker_without_the_funds_is_named() {
    let err = Chainstate::genesis(
        &params(),
        &Genesis {
            balances: vec![(who(1), MicroStx(10))],
            stackers: vec![GenesisStacker {
                stacker: who(1),
                amount: MicroStx(100),
                pox_addr: PoxAddress {
                    version: 0,
                    hashbytes: vec![1; 20],
                },
                lock_period: 1,
                signer_key: SignerKey(pk(9)),
            }],
            pools: vec![],
        },
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::GenesisStacker { .. }), "{err}");
    assert!(err.to_string().contains(&who(1).to_string()));
}

#[test]
fn transfers_move_funds_advance_nonces_and_hold_fees() {
    let mut cs = genesis();
    let r = cs
        .apply_tx(0, &transfer(1, 2, 0, 300, 5 * STX), H, BIG)
        .unwrap();
    assert_eq!(r.fee, MicroStx(300));
    assert_eq!(r.result, Ok(None));
    assert_eq!(balance(&cs, 1), 1_000_000 * STX - 5 * STX - 300);
    assert_eq!(balance(&cs, 2), 1_000_005 * STX);
    assert_eq!(
        cs.nonce(&StacksAddress::from_public_key(&pk(1), Network::Regtest)),
        1
    );
    assert_eq!(cs.held_fees(), MicroStx(300));
    // Account, account, nonce.
    assert_eq!(r.cost.write_count, 3);
    assert_eq!(cs.state_root(), cs.state_root_from_scratch());
}

/// After a sender's transaction with nonce 0 is included, another with nonce 0 can never be:
/// it is stale. Its next nonce and later ones are not; other senders are unaffected.
#[test]
fn transactions_below_the_senders_nonce_are_stale() {
    let mut cs = genesis();
    assert!(!cs.is_stale(&transfer(1, 2, 0, 1, STX)));
    cs.apply_tx(0, &transfer(1, 2, 0, 300, 5 * STX), H, BIG)
        .unwrap();
    let steps = [(1, 0, true), (1, 1, false), (1, 5, false), (2, 0, false)];
    for (from, nonce, stale) in steps {
        assert_eq!(
            cs.is_stale(&transfer(from, 3, nonce, 1, STX)),
            stale,
            "sender {from} nonce {nonce}"
        );
    }
}

#[test]
fn invalid_transactions_change_nothing() {
    let mut cs = genesis();
    let root = cs.state_root();
    let cases: Vec<(Transaction, &str)> = vec![
        (transfer(1, 2, 1, 0, STX), "nonce"),
        (transfer(1, 2, 0, 0, 2_000_000 * STX), "transfer"),
        (transfer(5, 2, 0, 10, STX), "fee"),
        (transfer(1, 1, 0, 10, STX), "transfer"),
        (
            {
                let mut t = transfer(1, 2, 0, 0, STX);
                t.tx.chain_id = 1;
                t
            },
            "encoding",
        ),
        (
            {
                let mut t = transfer(1, 2, 0, 0, STX);
                t.tx.chain_id = 1;
                t.tx.sign(&sk(1)).unwrap()
            },
            "chain",
        ),
    ];
    for (t, what) in cases {
        let err = cs.apply_tx(3, &t, H, BIG).unwrap_err();
        let ok = match what {
            "nonce" => matches!(
                err,
                ApplyError::Nonce {
                    index: 3,
                    got: 1,
                    expected: 0,
                    ..
                }
            ),
            "transfer" => matches!(err, ApplyError::Transfer { index: 3, .. }),
            "fee" => matches!(
                err,
                ApplyError::Fee {
                    index: 3,
                    fee: 10,
                    ..
                }
            ),
            "encoding" => matches!(err, ApplyError::Encoding { index: 3, .. }),
            "chain" => matches!(
                err,
                ApplyError::ChainId {
                    index: 3,
                    got: 1,
                    ..
                }
            ),
            _ => false,
        };
        assert!(ok, "{what}: {err}");
        assert_eq!(cs.state_root(), root, "{what}");
        assert_eq!(cs.state_root_from_scratch(), root, "{what}");
    }
}

#[test]
fn a_failing_pox_call_is_included_with_its_fee_and_rolled_back() {
    let mut cs = genesis();
    let r = cs
        .apply_tx(
            0,
            &tx(1, 0, 50, Payload::PoxCall(Call::RevokeDelegateStx)),
            H,
            BIG,
        )
        .unwrap();
    assert_eq!(r.result, Err(PoxError::DelegationAlreadyRevoked));
    assert_eq!(balance(&cs, 1), 1_000_000 * STX - 50);
    assert_eq!(cs.held_fees(), MicroStx(50));
    let r = cs
        .apply_tx(
            1,
            &tx(
                1,
                1,
                50,
                Payload::PoxCall(Call::DelegateStx {
                    amount_ustx: MicroStx(STX),
                    delegate_to: who(3),
                    until_burn_ht: None,
                    pox_addr: None,
                    signer_key: None,
                }),
            ),
            H,
            BIG,
        )
        .unwrap();
    assert!(r.result.is_ok());
    assert!(cs.pox().check_delegation(&who(1), H).is_some());
    assert_eq!(cs.state_root(), cs.state_root_from_scratch());
}

#[test]
fn a_transaction_over_the_budget_is_refused_whole() {
    let mut cs = genesis();
    let root = cs.state_root();
    let budget = Cost {
        write_count: 2,
        ..BIG
    };
    let err = cs
        .apply_tx(0, &transfer(1, 2, 0, 1, STX), H, budget)
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::OverBudget { index: 0, .. }),
        "{err}"
    );
    assert_eq!(cs.state_root(), root);
    assert_eq!(balance(&cs, 1), 1_000_000 * STX);
}

#[test]
fn coinbase_and_fees_are_paid_at_the_start_of_blocks() {
    let mut cs = genesis();
    let producers = vec![(who(7), Sats(10)), (who(8), Sats(30))];
    let b1 = cs
        .apply_block(
            &BlockRewards {
                coinbase: Some((MicroStx(10_000 * STX), producers.clone())),
                parent_signers: vec![],
                burn_ops: vec![],
            },
            &[transfer(1, 2, 0, 1_001, STX), transfer(2, 3, 0, 2_000, STX)],
            H,
            BIG,
            None,
        )
        .unwrap();
    assert_eq!(balance(&cs, 7), 2_500 * STX);
    assert_eq!(balance(&cs, 8), 7_500 * STX);
    assert_eq!(b1.fees, MicroStx(3_001));
    assert_eq!(cs.held_fees(), MicroStx(3_001));
    assert_eq!(b1.state_root, cs.state_root_from_scratch());
    // The next block pays the held fees to the parent's signers, split 1:3 by spend; the
    // remainder micro-STX goes to the later producer in tie-break order.
    let b2 = cs
        .apply_block(
            &BlockRewards {
                coinbase: None,
                burn_ops: vec![],
                parent_signers: producers.clone(),
            },
            &[],
            H,
            BIG,
            None,
        )
        .unwrap();
    assert_eq!(
        b2.paid,
        vec![(who(7), MicroStx(750)), (who(8), MicroStx(2_251))]
    );
    assert_eq!(cs.held_fees(), MicroStx::ZERO);
    assert_eq!(balance(&cs, 7), 2_500 * STX + 750);
    // Micro-STX are conserved: the liquid supply grew by the coinbase only.
    assert_eq!(
        cs.pox().liquid_supply(),
        MicroStx(4_000_000 * STX + 10_000 * STX)
    );
    assert_eq!(cs.pox().total_balances(), Some(cs.pox().liquid_supply()));
}

#[test]
fn a_block_that_does_not_reach_its_header_is_rolled_back() {
    let mut cs = genesis();
    let root = cs.state_root();
    let rewards = BlockRewards {
        coinbase: Some((MicroStx(1_000), vec![(who(7), Sats(1))])),
        parent_signers: vec![],
        burn_ops: vec![],
    };
    let txs = [transfer(1, 2, 0, 5, STX)];
    let mut probe = cs.clone();
    let good = probe.apply_block(&rewards, &txs, H, BIG, None).unwrap();
    for expected in [
        Expected {
            state_root: tandem_consensus::StateRoot([7; 32]),
            fees: good.fees,
            cost: good.cost,
        },
        Expected {
            state_root: good.state_root,
            fees: MicroStx(6),
            cost: good.cost,
        },
        Expected {
            state_root: good.state_root,
            fees: good.fees,
            cost: Cost::ZERO,
        },
    ] {
        let err = cs
            .apply_block(&rewards, &txs, H, BIG, Some(expected))
            .unwrap_err();
        assert!(
            matches!(
                err,
                ApplyError::StateRoot { .. } | ApplyError::Fees { .. } | ApplyError::Cost { .. }
            ),
            "{err}"
        );
        assert_eq!(cs.state_root(), root);
        assert_eq!(cs.state_root_from_scratch(), root);
        assert_eq!(balance(&cs, 7), 0);
    }
    // A bad transaction in the middle rolls the rewards and the earlier ones back too.
    let err = cs
        .apply_block(
            &rewards,
            &[transfer(1, 2, 0, 5, STX), transfer(1, 2, 0, 5, STX)],
            H,
            BIG,
            None,
        )
        .unwrap_err();
    // Index 2: the rewards include a coinbase, entry 0 of the block.
    assert!(matches!(err, ApplyError::Nonce { index: 2, .. }), "{err}");
    assert_eq!(cs.state_root(), root);
    let again = cs
        .apply_block(
            &rewards,
            &txs,
            H,
            BIG,
            Some(Expected {
                state_root: good.state_root,
                fees: good.fees,
                cost: good.cost,
            }),
        )
        .unwrap();
    assert_eq!(again, good);
}

#[test]
fn the_term_limit_is_one_block_limit_per_burn_block() {
    assert_eq!(
        Cost::term_limit(Cost::STACKS_BLOCK_LIMIT, 10),
        Cost {
            write_count: 150_000,
            write_length: 150_000_000,
            tx_bytes: 20 * 1024 * 1024,
            read_count: 150_000,
            read_length: 1_000_000_000,
            runtime: 50_000_000_000,
        }
    );
    assert_eq!(
        Cost::term_limit(Cost::STACKS_BLOCK_LIMIT, 5),
        Cost::STACKS_BLOCK_LIMIT.times(5)
    );
}

/// Known answer: a transfer between two existing accounts reads and writes both accounts and
/// the sender's nonce, priced as `costs-3` prices `map-get?` (n + 1025) and `map-set`
/// (4n + 1899).
#[test]
fn a_transfer_meters_all_five_dimensions() {
    let mut cs = genesis();
    let r = cs.apply_tx(0, &transfer(1, 2, 0, 5, STX), H, BIG).unwrap();
    let account = cs
        .pox()
        .entry_value(&tandem_consensus::stacking::entries::StateKey::Account(
            who(1),
        ))
        .unwrap()
        .len() as u64;
    assert_eq!(
        r.cost,
        Cost {
            write_count: 3,
            write_length: 2 * account + 8,
            tx_bytes: r.cost.tx_bytes,
            read_count: 3,
            read_length: 2 * (account + 1) + 9,
            runtime: 2 * (4 * account + 1899) + (4 * 8 + 1899) + 2 * (account + 1025) + (8 + 1025),
        }
    );
    assert_eq!(account, 48);
    // A budget short in any one dimension refuses the transaction whole.
    let tx = transfer(1, 2, 1, 5, STX);
    for short in [
        Cost {
            read_count: 2,
            ..BIG
        },
        Cost {
            read_length: 106,
            ..BIG
        },
        Cost {
            runtime: r.cost.runtime - 1,
            ..BIG
        },
    ] {
        let root = cs.state_root();
        let err = cs.apply_tx(0, &tx, H, short).unwrap_err();
        assert!(matches!(err, ApplyError::OverBudget { .. }), "{err}");
        assert_eq!(cs.state_root(), root);
    }
    assert!(cs.apply_tx(0, &tx, H, r.cost).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Whatever sequence of transfers (valid or not) is applied, the incremental root equals
    /// the root recomputed from scratch, and no micro-STX appear or vanish.
    #[test]
    fn incremental_root_matches_scratch(ops in proptest::collection::vec((1u8..=5, 1u8..=5, 0u64..3, 0u64..200, 0u128..3_000_000 * STX), 1..25)) {
        let mut cs = genesis();
        for (i, (from, to, nonce, fee, amount)) in ops.into_iter().enumerate() {
            let _ = cs.apply_tx(i, &transfer(from, to, nonce, fee, amount), H, BIG);
            prop_assert_eq!(cs.state_root(), cs.state_root_from_scratch());
            let held = cs.held_fees();
            prop_assert_eq!(
                cs.pox().total_balances().unwrap().0 + held.0,
                cs.pox().liquid_supply().0
            );
        }
    }
}

fn header() -> BlockHeader {
    BlockHeader {
        version: BLOCK_VERSION,
        chain_id: 0x8000_0000,
        height: tandem_consensus::StacksHeight(3),
        term: Term(2),
        burn_height: BurnHeight(25),
        parent: BlockId([0xab; 32]),
        txs_hash: txs_hash(Body {
            coinbase: None,
            burn_ops: &[],
            txs: &[transfer(1, 2, 0, 5, STX)],
        })
        .unwrap(),
        state_root: tandem_consensus::StateRoot([0xcd; 32]),
        fees: MicroStx(5),
        cost: Cost {
            write_count: 3,
            write_length: 104,
            tx_bytes: 200,
            read_count: 3,
            read_length: 107,
            runtime: 7957,
        },
    }
}

fn fake_sig(parties: u16) -> AccountableSignature {
    AccountableSignature {
        signature: [2; 65],
        parties,
        bits: vec![0xff; usize::from(parties).div_ceil(8)],
        witness: vec![],
    }
}

#[test]
fn header_bytes_and_id_are_frozen() {
    let h = header();
    let bytes = h.encode();
    assert_eq!(bytes.len(), HEADER_BYTES);
    insta::assert_snapshot!("header", format!("{}\nid {}", hex::encode(&bytes), h.id()));
}

#[test]
fn blocks_round_trip() {
    for coinbase in [None, Some(coinbase())] {
        let unsigned = UnsignedBlock {
            header: header(),
            coinbase,
            burn_ops: vec![],
            txs: vec![transfer(1, 2, 0, 5, STX)].into(),
        };
        let bytes = unsigned.encode().unwrap();
        assert_eq!(UnsignedBlock::decode(&bytes).unwrap(), unsigned);
        let block = Block {
            header: unsigned.header.clone(),
            coinbase,
            burn_ops: vec![],
            txs: unsigned.txs.clone(),
            producer_sig: fake_sig(4),
            stacker_sig: fake_sig(20),
        };
        let bytes = block.encode().unwrap();
        assert_eq!(Block::decode(&bytes).unwrap(), block);
        assert_eq!(block.id(), unsigned.id());
    }
}

fn coinbase() -> Coinbase {
    Coinbase {
        chain_id: 0x8000_0000,
        term: Term(2),
        amount: MicroStx::from_stx(10_000),
    }
}

/// The coinbase's 25 bytes and txid, frozen; it counts first in the txs hash.
#[test]
fn coinbase_bytes_are_frozen_and_lead_the_txs_hash() {
    let c = coinbase();
    assert_eq!(
        hex::encode(c.encode()),
        "028000000000000002000000000000000000000002540be400"
    );
    assert_eq!(Coinbase::decode(&c.encode()).unwrap(), c);
    let tx = transfer(1, 2, 0, 5, STX);
    assert_ne!(
        txs_hash(Body {
            coinbase: Some(&c),
            burn_ops: &[],
            txs: std::slice::from_ref(&tx)
        })
        .unwrap(),
        txs_hash(Body {
            coinbase: None,
            burn_ops: &[],
            txs: std::slice::from_ref(&tx)
        })
        .unwrap()
    );
    // Wrong version, short, long: named.
    let mut v = c.encode();
    v[0] = 3;
    assert_eq!(
        Coinbase::decode(&v).unwrap_err(),
        DecodeError::Tag {
            field: "coinbase version",
            tag: 3
        }
    );
    assert_eq!(
        Coinbase::decode(&c.encode()[..20]).unwrap_err(),
        DecodeError::Truncated("coinbase amount")
    );
}

/// A coinbase anywhere but first in the list is refused by its index.
#[test]
fn a_coinbase_after_a_transaction_is_refused() {
    let good = UnsignedBlock {
        header: header(),
        coinbase: None,
        burn_ops: vec![],
        txs: vec![transfer(1, 2, 0, 5, STX)].into(),
    }
    .encode()
    .unwrap();
    let cb = coinbase().encode();
    let mut bytes = good[..HEADER_BYTES].to_vec();
    bytes.extend_from_slice(&2u32.to_be_bytes());
    bytes.extend_from_slice(&good[HEADER_BYTES + 4..]);
    bytes.extend_from_slice(&(cb.len() as u16).to_be_bytes());
    bytes.extend_from_slice(&cb);
    assert_eq!(
        UnsignedBlock::decode(&bytes).unwrap_err(),
        BlockError::CoinbaseNotFirst { index: 1 }
    );
}

#[test]
fn hostile_blocks_are_refused_with_the_field_named() {
    let block = Block {
        header: header(),
        coinbase: None,
        burn_ops: vec![],
        txs: vec![transfer(1, 2, 0, 5, STX)].into(),
        producer_sig: fake_sig(4),
        stacker_sig: fake_sig(4),
    };
    let bytes = block.encode().unwrap();
    // Every truncation names where it ended.
    for cut in 0..bytes.len() {
        assert!(Block::decode(&bytes[..cut]).is_err(), "cut {cut}");
    }
    assert_eq!(
        Block::decode(&bytes[..100]).unwrap_err(),
        BlockError::Decode(DecodeError::Truncated("state root"))
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        Block::decode(&trailing).unwrap_err(),
        BlockError::Decode(DecodeError::Trailing(1))
    );
    let mut version = bytes.clone();
    version[0] = 9;
    assert_eq!(Block::decode(&version).unwrap_err(), BlockError::Version(9));
    // A transaction count the input cannot hold is refused before allocating.
    let mut count = header().encode();
    count.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Block::decode(&count).unwrap_err(),
        BlockError::Decode(DecodeError::TooMany {
            field: "tx count",
            ..
        })
    ));
    let too_big = vec![0u8; tandem_consensus::chain::block::MAX_BLOCK_BYTES + 1];
    assert!(matches!(
        Block::decode(&too_big).unwrap_err(),
        BlockError::Decode(DecodeError::TooLarge { .. })
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic_the_block_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Block::decode(&bytes);
        let _ = UnsignedBlock::decode(&bytes);
    }
}

/// Stack-stx and delegate-stx from Bitcoin are pox-4 calls made as their sender: a
/// delegate-stx delegates; a stack-stx without pox-4's signer fields does nothing and says
/// why; one whose signer key was never authorised (a Bitcoin transaction carries no signer
/// signature) fails with pox-4's code 19. Every kind's encoding round-trips.
#[test]
fn burn_stack_and_delegate_operations_call_pox_4() {
    use tandem_consensus::chain::{BurnOpKind, BurnStacksOp};
    let addr = |i: u8| *who(i).standard().unwrap();
    let reward = PoxAddress {
        version: 0,
        hashbytes: vec![3; 20],
    };
    let op = |vtxindex: u32, kind: BurnOpKind| BurnStacksOp {
        burn_height: BurnHeight(4),
        vtxindex,
        burn_txid: [vtxindex as u8; 32],
        kind,
    };
    let ops = vec![
        op(
            1,
            BurnOpKind::DelegateStx {
                sender: addr(1),
                amount: MicroStx(100_000 * STX),
                delegate_to: addr(2),
                reward: None,
                until_burn_height: Some(500),
            },
        ),
        op(
            2,
            BurnOpKind::StackStx {
                sender: addr(3),
                amount: MicroStx(200_000 * STX),
                num_cycles: 1,
                reward: reward.clone(),
                signer_key: None,
                max_amount: None,
                auth_id: None,
            },
        ),
        op(
            3,
            BurnOpKind::StackStx {
                sender: addr(3),
                amount: MicroStx(200_000 * STX),
                num_cycles: 1,
                reward,
                signer_key: Some(pk(9)),
                max_amount: Some(u128::MAX),
                auth_id: Some(1),
            },
        ),
    ];
    for o in &ops {
        assert_eq!(&BurnStacksOp::decode(&o.encode()).unwrap(), o);
    }
    let mut cs = genesis();
    let r = cs
        .apply_block(
            &BlockRewards {
                coinbase: None,
                parent_signers: vec![],
                burn_ops: ops,
            },
            &[],
            H,
            BIG,
            None,
        )
        .unwrap();
    assert!(r.burn_ops[0].outcome.is_ok(), "{:?}", r.burn_ops[0]);
    assert!(cs.pox().check_delegation(&who(1), H).is_some());
    assert!(
        matches!(&r.burn_ops[1].outcome, Err(PoxError::Runtime(m)) if m.contains("signer key"))
    );
    assert_eq!(r.burn_ops[2].outcome.as_ref().unwrap_err().code(), Some(19));
    assert_eq!(cs.burn_ops_through(), Some((BurnHeight(4), 3)));
    assert_eq!(cs.state_root(), cs.state_root_from_scratch());
}

/// Followers share a state only when one may stand in for the other: equal content and
/// nothing pending for the state root. A transfer, or writes not yet in the root, tell two
/// states apart.
#[test]
fn interchangeable_states_are_equal_in_content_and_bookkeeping() {
    let a = genesis();
    let b = genesis();
    assert!(a.interchangeable(&b));
    let mut c = genesis();
    c.apply_tx(0, &transfer(1, 2, 0, 300, 5 * STX), H, BIG)
        .unwrap();
    assert!(!a.interchangeable(&c));
    let mut d = genesis();
    d.apply_tx(0, &transfer(1, 2, 0, 300, 5 * STX), H, BIG)
        .unwrap();
    // Same writes; equal once both roots are brought up to date, and while neither is.
    assert!(c.interchangeable(&d));
    let _ = c.state_root();
    assert!(
        !c.interchangeable(&d),
        "d's writes are still pending for its root"
    );
    let _ = d.state_root();
    assert!(c.interchangeable(&d));
}
