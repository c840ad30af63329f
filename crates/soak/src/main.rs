//! `soak`: see the library's documentation and docs/reliability.md.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let args = soak::run::Args::parse();
    match soak::run::run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("soak: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
