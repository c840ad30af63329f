#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use witboost_token_operator::cli::{self, Cli};
use witboost_token_operator::plugin::{self, Plugin};

#[tokio::main]
async fn main() -> ExitCode {
    // Called `kubectl-witboost` (a symlink or a copy on PATH), the binary is the kubectl plugin.
    if std::env::args_os()
        .next()
        .is_some_and(|argv0| plugin::invoked_as_plugin(&argv0))
    {
        return cli::run_plugin(Plugin::parse()).await;
    }
    match cli::run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", cli::error_report(&error));
            ExitCode::FAILURE
        }
    }
}
