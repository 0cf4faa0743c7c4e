//! The CLI's error type and how errors reach the terminal: always one line on stderr.

use clap::error::ErrorKind;
use std::process::ExitCode;

/// Everything a command can fail with; each message names the argument or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Arg(String),
    #[error(transparent)]
    Params(#[from] tandem_consensus::ParamsError),
    #[error(transparent)]
    Height(#[from] tandem_consensus::HeightError),
    #[error(transparent)]
    ProducerSet(#[from] tandem_consensus::producer_set::ProducerSetError),
    #[error("reward split: {0}")]
    Split(#[from] tandem_consensus::apportion::SplitError),
    #[error(transparent)]
    TxDecode(#[from] tandem_burnchain::tx::TxDecodeError),
    #[error("malformed operation: {0}")]
    Op(#[from] tandem_burnchain::OpError),
    #[error("enrollment payout: {0}")]
    Payout(#[from] tandem_burnchain::payout::PayoutError),
    #[error("cannot build the enrollment: {0}")]
    Build(#[from] tandem_burnchain::payout::BuildError),
    #[error(transparent)]
    WfrostConfig(#[from] tandem_wfrost::ConfigError),
    #[error(transparent)]
    Dkg(#[from] tandem_wfrost::DkgError),
    #[error(transparent)]
    Sign(#[from] tandem_wfrost::SignError),
    #[error(transparent)]
    Witness(#[from] tandem_wfrost::WitnessError),
    #[error("reward set: {0}")]
    RewardSet(#[from] tandem_consensus::stacking::RewardSetError),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A node configuration that cannot run (exit code 2).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    ConfigFile(#[from] crate::node::config::ConfigError),
    #[error("{0}")]
    Runtime(String),
}

impl CliError {
    /// The process exit code: 2 for configuration errors (the node never started), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::ConfigFile(_) => 2,
            _ => 1,
        }
    }
}

pub fn arg(msg: impl Into<String>) -> CliError {
    CliError::Arg(msg.into())
}

/// Help and version go to stdout as clap renders them; usage errors become one line.
pub fn report_clap(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            // clap's message is the first paragraph (some kinds list the arguments on the
            // lines after the first); usage and tips follow a blank line.
            let rendered = e.render().to_string();
            let first: Vec<&str> = rendered
                .lines()
                .skip_while(|l| l.trim().is_empty())
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = first.join(" ");
            let message = message.trim_start_matches("error: ");
            eprintln!("error: {message} (see --help)");
            ExitCode::from(2)
        }
    }
}
