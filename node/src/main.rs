//! `tandem`: the Tandem node binary: `tandem node` runs a node (docs/node.md); the calculators
//! SIP authors use to check the term, slot, payout and reward math, and the operation decoder.
#![forbid(unsafe_code)]

mod args;
mod bench;
mod calc;
mod cli;
mod devnet;
mod error;
mod node;
mod op;
mod output;
mod reward_set;
mod stackerdb;
mod stacking;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return error::report_clap(e),
    };
    match cli::run(cli) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            // One line, whatever a library's message looks like.
            let text = e.to_string();
            let folded: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("error: {}", folded.join("; "));
            ExitCode::from(e.exit_code())
        }
    }
}
