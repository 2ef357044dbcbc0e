//! `mcp-companion`: the command-line face of MCP Companion.
//!
//! Glue only: parse arguments ([`args`]), call the library crates ([`cmd`]), turn the outcome
//! into text and an exit code. Exit codes are part of the interface:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the operation failed (network, keychain, server refused, …) |
//! | 2 | usage or configuration error: bad arguments, unknown server, invalid config file |
// A command-line tool's results go to stdout by design.
#![allow(clippy::print_stdout)]

mod args;
mod cmd;
mod output;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: {}", f.message);
            if let Some(hint) = &f.hint {
                let _ = writeln!(err, "hint: {hint}");
            }
            ExitCode::from(f.code)
        }
    }
}
