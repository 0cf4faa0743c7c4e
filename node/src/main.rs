//! `tandem`: the Tandem node binary. For now it hosts the calculators SIP authors use to check
//! the term, slot, payout and reward math, and the operation decoder.
#![forbid(unsafe_code)]

mod args;
mod bench;
mod calc;
mod cli;
mod error;
mod op;
mod output;
mod stackerdb;

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
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
