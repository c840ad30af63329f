#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use witboost_token_operator::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    match cli::run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", cli::error_report(&error));
            ExitCode::FAILURE
        }
    }
}
