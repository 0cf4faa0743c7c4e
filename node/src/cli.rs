//! Command-line definitions and dispatch.

use crate::error::CliError;
use clap::{Args, Parser, Subcommand};
use tandem_consensus::Network;

#[derive(Debug, Parser)]
#[command(
    name = "tandem",
    version,
    about = "Tandem: collaborative mining and stacker availability signing"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node (`--config FILE`), or check a config file without starting one.
    #[command(args_conflicts_with_subcommands = true)]
    Node {
        #[command(subcommand)]
        action: Option<NodeAction>,
        /// The node's TOML configuration (docs/node.md).
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
    },
    /// Run a local network of nodes (embedded or real regtest Bitcoin), or control a running one.
    #[command(args_conflicts_with_subcommands = true)]
    Devnet {
        #[command(subcommand)]
        action: Option<DevnetAction>,
        #[command(flatten)]
        launch: DevnetLaunch,
    },
    /// Check the term, slot, payout and reward math of the SIP by hand.
    #[command(subcommand)]
    Calc(Calc),
    /// Bitcoin operations.
    #[command(subcommand)]
    Op(Op),
    /// Stacker DB helpers.
    #[command(subcommand)]
    Stackerdb(Stackerdb),
    /// Make a signer-key signature for a pox-4 stacking call (as stacks-signer does).
    GenerateStackingSignature {
        #[command(flatten)]
        fields: StackingSigFields,
        /// TOML with `stacks_private_key` (hex) and `network` (mainnet | testnet | regtest).
        #[arg(long, value_name = "FILE")]
        config: std::path::PathBuf,
        #[command(flatten)]
        format: Format,
    },
    /// Check a signer-key signature; exits non-zero when it does not match.
    VerifyStackingSignature {
        #[command(flatten)]
        fields: StackingSigFields,
        /// The signer key the signature should come from (33 bytes hex).
        #[arg(long, value_name = "HEX")]
        signer_key: String,
        /// The signature, r || s || v (65 bytes hex).
        #[arg(long, value_name = "HEX")]
        signature: String,
        /// A config file to take the network from.
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
        /// The network (overrides the config's).
        #[arg(long)]
        network: Option<Network>,
        #[command(flatten)]
        format: Format,
    },
    /// Measure the protocol's expensive parts (use a release build).
    #[command(subcommand)]
    Bench(Bench),
}

/// The fields a signer-key signature covers.
#[derive(Debug, Args)]
pub struct StackingSigFields {
    /// The PoX reward address (a Bitcoin address of the network).
    #[arg(long, value_name = "ADDR")]
    pub pox_address: String,
    /// Solo calls: the current reward cycle; aggregation calls: the target cycle.
    #[arg(long, value_name = "N")]
    pub reward_cycle: u64,
    /// stack-stx, stack-extend, stack-increase, agg-commit or agg-increase.
    #[arg(long)]
    pub method: String,
    /// Lock period in cycles (1 for aggregation calls).
    #[arg(long, value_name = "CYCLES")]
    pub period: u64,
    /// The most micro-STX the signature lets the call lock.
    #[arg(long, value_name = "USTX")]
    pub max_amount: u128,
    /// A one-time number that makes the signature unique (replay protection).
    #[arg(long, value_name = "N")]
    pub auth_id: u128,
}

#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Weighted FROST, whole flow once in one process: key generation, signing, aggregation,
    /// witness verification; compute per party and in total.
    Frost {
        /// Total signer slots (100 for producers, up to 4,000 for stackers).
        #[arg(long, default_value_t = 100)]
        slots: u32,
        /// Parties the slots are split among (as evenly as possible, contiguous ranges).
        #[arg(long, default_value_t = 100)]
        parties: u32,
        /// Signing parties (default: the fewest, in party order, that reach the threshold).
        #[arg(long)]
        signers: Option<u32>,
        /// Seed of the run's randomness.
        #[arg(long, default_value_t = 1)]
        seed: u8,
        #[command(flatten)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum Stackerdb {
    /// Sign a chunk as libstackerdb does: prints the data hash, the signed digest and the
    /// 65-byte signature (recovery id first).
    Sign {
        /// The writer's secp256k1 private key: 32 bytes hex, or 33 ending in the 01 flag.
        #[arg(long, value_name = "HEX")]
        private_key: String,
        #[arg(long, value_name = "N")]
        slot: u32,
        #[arg(long, value_name = "V")]
        version: u32,
        /// The chunk's data, hex (may be empty).
        #[arg(long, value_name = "HEX", default_value = "")]
        data_hex: String,
        #[command(flatten)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct Format {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NetworkArg {
    /// mainnet, testnet or regtest.
    #[arg(long, default_value = "regtest")]
    pub network: Network,
}

/// A burn height on a network, with the network's first burn height optionally overridden.
#[derive(Debug, Args)]
pub struct HeightArgs {
    #[arg(long, value_name = "H")]
    pub height: u32,
    #[command(flatten)]
    pub network: NetworkArg,
    /// Override the network's first burn height.
    #[arg(long, value_name = "F")]
    pub first_burn_height: Option<u32>,
}

/// Producers given by spend, with optional txids and tie-break seed.
#[derive(Debug, Args)]
pub struct ProducerArgs {
    /// A producer and its total enrollment spend, NAME=SATS (repeat per producer).
    #[arg(long = "spend", value_name = "NAME=SATS", required = true)]
    pub spends: Vec<String>,
    /// The txid of a producer's last enrollment, NAME=HEX (64 hex digits, internal byte order);
    /// producers without one use 32 zero bytes, so equal spends keep command-line order
    /// before the tie shuffle.
    #[arg(long = "txid", value_name = "NAME=HEX")]
    pub txids: Vec<String>,
    /// The 32-byte sortition hash that seeds the tie shuffle (default: 32 zero bytes).
    #[arg(long, value_name = "HEX")]
    pub seed: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Calc {
    /// Where a burn height sits: term, reward cycle, phase, and which set its enrollments are for.
    Term {
        #[command(flatten)]
        at: HeightArgs,
        #[command(flatten)]
        format: Format,
    },
    /// A producer set's weights, signer ids and Stacker DB slots.
    Slots {
        #[command(flatten)]
        producers: ProducerArgs,
        #[command(flatten)]
        format: Format,
    },
    /// The indices the payout draw picks from a reward set.
    Draw {
        /// The 32-byte ChaCha12 seed (SHA-256 of the sortition hash and block hash).
        #[arg(long, value_name = "HEX")]
        seed: String,
        /// Entries left in the cycle's reward set.
        #[arg(long, value_name = "N")]
        entries: u32,
        /// How many to draw (20 per term).
        #[arg(long, value_name = "K")]
        count: u32,
        #[command(flatten)]
        format: Format,
    },
    /// The coinbase schedule (Stacks 2.4's) at a burn height, and its term's coinbase.
    Coinbase {
        #[command(flatten)]
        at: HeightArgs,
        #[command(flatten)]
        format: Format,
    },
    /// Coinbase and fee splits in micro-STX.
    Rewards {
        #[command(flatten)]
        producers: ProducerArgs,
        /// The coinbase to split over the whole set, in micro-STX.
        #[arg(
            long,
            value_name = "USTX",
            required_unless_present = "height",
            conflicts_with = "height"
        )]
        coinbase: Option<u128>,
        /// Split the coinbase of the term holding this burn height, from the schedule.
        #[arg(long, value_name = "H")]
        height: Option<u32>,
        #[command(flatten)]
        network: NetworkArg,
        /// A block's fees to split over its signers, in micro-STX.
        #[arg(long, value_name = "USTX", requires = "signers")]
        fees: Option<u128>,
        /// The producers that signed the block, comma-separated.
        #[arg(
            long,
            value_name = "NAME,...",
            value_delimiter = ',',
            requires = "fees"
        )]
        signers: Vec<String>,
        #[command(flatten)]
        format: Format,
    },
    /// Build an unsigned enrollment transaction.
    PayoutTx(PayoutTxArgs),
    /// A cycle's reward set and stacker signers from its stacked entries: the threshold, each
    /// PoX address's slots, each signer key's weight and stacker slot range.
    RewardSet {
        /// A reward-cycle entry, BTC_ADDRESS:USTX:SIGNER_KEY (repeat, in list order; the
        /// signer key is a compressed secp256k1 key in hex).
        #[arg(long = "stacker", value_name = "ADDR:USTX:SIGNER_KEY", required = true)]
        stackers: Vec<String>,
        /// The liquid STX supply, in micro-STX.
        #[arg(long, value_name = "USTX")]
        liquid: u128,
        #[command(flatten)]
        network: NetworkArg,
        #[command(flatten)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct PayoutTxArgs {
    #[command(flatten)]
    pub network: NetworkArg,
    /// An outpoint to spend, TXID:VOUT; input 0 must be signed by the producer's address.
    #[arg(long = "input", value_name = "TXID:VOUT", required = true)]
    pub inputs: Vec<String>,
    /// Burn height of term N-3's final announcement (0 when none exists).
    #[arg(long, default_value_t = 0)]
    pub set_block: u32,
    #[arg(long, default_value_t = 0)]
    pub set_txoff: u16,
    /// Burn height of the producer's VRF key registration.
    #[arg(long)]
    pub key_block: u32,
    #[arg(long)]
    pub key_txoff: u16,
    /// Compressed secp256k1 public key (33 bytes hex).
    #[arg(long, value_name = "HEX")]
    pub signing_key: String,
    /// State root of the announced block (32 bytes hex; default zeros, for term N-3 without one).
    #[arg(long, value_name = "HEX")]
    pub state_root: Option<String>,
    /// A PoX recipient address drawn for the term (repeat; up to 20). None: the burn form.
    #[arg(long = "recipient", value_name = "ADDR")]
    pub recipients: Vec<String>,
    /// Total spend in sats (split evenly over the 20 PoX outputs).
    #[arg(long, value_name = "SATS")]
    pub spend: u64,
    /// Change output, ADDR:SATS.
    #[arg(long, value_name = "ADDR:SATS")]
    pub change: Option<String>,
    #[command(flatten)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum Op {
    /// Decode a transaction's operation to JSON.
    Decode {
        /// The transaction, consensus-encoded, in hex.
        hex: String,
        #[command(flatten)]
        network: NetworkArg,
        /// Print JSON (this command's only output; accepted like every other command's).
        #[arg(long)]
        json: bool,
    },
}

/// `tandem devnet`'s launch options (docs/devnet.md).
#[derive(Debug, Args)]
pub struct DevnetLaunch {
    /// Producer nodes (p0, p1, ...).
    #[arg(long, default_value_t = 4)]
    pub producers: usize,
    /// Stacker-signer nodes (s0, s1, ...), stacking at genesis.
    #[arg(long, default_value_t = 4)]
    pub stackers: usize,
    /// A burn block every this many milliseconds.
    #[arg(long, default_value_t = 1_000, value_name = "MS")]
    pub burn_block_ms: u64,
    /// Where configs, node state and logs go (kept after the devnet stops).
    #[arg(long, default_value = "tandem-devnet", value_name = "DIR")]
    pub dir: std::path::PathBuf,
    /// A real regtest Bitcoin node's JSON-RPC URL (bcoin or bitcoind) instead of the embedded chain.
    #[arg(long, value_name = "URL")]
    pub bitcoin_rpc: Option<String>,
    /// JSON-RPC user of --bitcoin-rpc.
    #[arg(long, default_value = "", value_name = "USER")]
    pub bitcoin_user: String,
    /// JSON-RPC password of --bitcoin-rpc (bcoin: its API key).
    #[arg(long, default_value = "", value_name = "PASSWORD")]
    pub bitcoin_password: String,
    /// Stop with success after this many both-signed blocks.
    #[arg(long, value_name = "K")]
    pub until_blocks: Option<u64>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// A fault at launch: NODE=KIND[@TERM] (kinds: crash, crash-restart, and every misbehaviour of docs/faults.md: withhold-votes, withhold-prepares, withhold-commits, withhold-shares, double-vote, invalid-signature-shares, lying-bit-vector, censor, bad-keygen-shares, equivocate). Repeatable.
    #[arg(long, value_name = "NODE=KIND[@TERM]")]
    pub fault: Vec<String>,
    /// With --until-blocks: give up (non-zero exit) after this many seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum DevnetAction {
    /// Mine N burn blocks now (default 1).
    Mine {
        #[arg(default_value_t = 1)]
        n: u32,
        #[arg(long, default_value = "tandem-devnet", value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Replace the last DEPTH burn blocks (a Bitcoin reorganisation).
    Reorg {
        depth: u32,
        #[arg(long, default_value = "tandem-devnet", value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Kill a node's process (SIGKILL).
    Kill {
        node: String,
        #[arg(long, default_value = "tandem-devnet", value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Start a node again on its state.
    Restart {
        node: String,
        #[arg(long, default_value = "tandem-devnet", value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Where every node stands.
    Status {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "tandem-devnet", value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum NodeAction {
    /// Validate a configuration file without starting the node.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: std::path::PathBuf,
    },
}

pub fn run(cli: Cli) -> Result<String, CliError> {
    match cli.command {
        Command::Node {
            action: Some(NodeAction::CheckConfig { config }),
            ..
        } => crate::node::check_config(&config),
        Command::Node {
            action: None,
            config: Some(config),
        } => crate::node::run(&config),
        Command::Node {
            action: None,
            config: None,
        } => Err(crate::error::arg(
            "tandem node needs --config FILE (or: tandem node check-config --config FILE)",
        )),
        Command::Devnet {
            action: Some(a), ..
        } => {
            use crate::devnet::ControlCommand as C;
            let (cmd, dir) = match a {
                DevnetAction::Mine { n, dir } => (C::Mine(n), dir),
                DevnetAction::Reorg { depth, dir } => (C::Reorg(depth), dir),
                DevnetAction::Kill { node, dir } => (C::Kill(node), dir),
                DevnetAction::Restart { node, dir } => (C::Restart(node), dir),
                DevnetAction::Status { json, dir } => (C::Status { json }, dir),
            };
            crate::devnet::client(cmd, &dir)
        }
        Command::Devnet {
            action: None,
            launch: l,
        } => crate::devnet::run(crate::devnet::Options {
            producers: l.producers,
            stackers: l.stackers,
            burn_block_ms: l.burn_block_ms,
            dir: l.dir,
            bitcoin_rpc: l.bitcoin_rpc,
            bitcoin_user: l.bitcoin_user,
            bitcoin_password: l.bitcoin_password,
            until_blocks: l.until_blocks,
            json: l.json,
            faults: l.fault,
            timeout_s: l.timeout,
        }),
        Command::Calc(calc) => crate::calc::run(calc),
        // JSON is op decode's one output form, with or without --json.
        Command::Op(Op::Decode { hex, network, .. }) => crate::op::decode(&hex, network.network),
        Command::GenerateStackingSignature {
            fields,
            config,
            format,
        } => crate::output::render(&crate::stacking::generate(&fields, &config)?, format.json),
        Command::VerifyStackingSignature {
            fields,
            signer_key,
            signature,
            config,
            network,
            format,
        } => crate::output::render(
            &crate::stacking::verify(&fields, &signer_key, &signature, config.as_deref(), network)?,
            format.json,
        ),
        Command::Bench(Bench::Frost {
            slots,
            parties,
            signers,
            seed,
            format,
        }) => crate::output::render(
            &crate::bench::frost(slots, parties, signers, seed)?,
            format.json,
        ),
        Command::Stackerdb(Stackerdb::Sign {
            private_key,
            slot,
            version,
            data_hex,
            format,
        }) => crate::output::render(
            &crate::stackerdb::sign(&private_key, slot, version, &data_hex)?,
            format.json,
        ),
    }
}
