//! `kubectl witboost token TOKEN`: the value from the AccessToken's Secret, for pipes.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Args;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::regenerate::Snapshot;
use super::{Connection, Refusal};

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The AccessToken.
    pub token: String,
    /// Print the value even to a terminal (where others may read it).
    #[arg(long)]
    pub show: bool,
}

/// Why the value is not printed, if it is not: a terminal without `--show`.
pub fn refusal(stdout_is_terminal: bool, show: bool) -> Option<&'static str> {
    (stdout_is_terminal && !show).then_some(
        "refusing to print a token to a terminal: pipe it (e.g. into a file or a variable) \
         or pass --show",
    )
}

/// The value in the Secret's `token` key, if there is one.
pub fn value_of(secret: &Secret) -> Option<String> {
    let bytes = secret.data.as_ref()?.get("token")?;
    String::from_utf8(bytes.0.clone())
        .ok()
        .filter(|v| !v.is_empty())
}

/// Refuses when standard output is a terminal and `--show` was not given.
pub fn check_destination(show: bool) -> anyhow::Result<()> {
    match refusal(std::io::stdout().is_terminal(), show) {
        Some(why) => Err(Refusal::failure(why)),
        None => Ok(()),
    }
}

pub async fn run(connection: &Connection, args: TokenArgs) -> anyhow::Result<()> {
    let value = read_value(connection, &args.token).await?;
    println!("{value}");
    Ok(())
}

/// The value of AccessToken `name`, from its Secret; a failure that says why there is none.
pub async fn read_value(connection: &Connection, name: &str) -> anyhow::Result<String> {
    let namespace = connection.namespace();
    let token = connection.token(name).await?;
    let secret_name = token
        .status
        .as_ref()
        .and_then(|s| s.secret_name.clone())
        .unwrap_or_else(|| token.secret_name());
    let secrets: Api<Secret> = Api::namespaced(connection.client.clone(), namespace);
    let secret = secrets
        .get_opt(&secret_name)
        .await
        .with_context(|| format!("failed to read Secret {namespace}/{secret_name}"))?;
    let value = secret.as_ref().and_then(value_of).ok_or_else(|| {
        Refusal::failure(format!(
            "{name} has no value in Secret {secret_name} ({})",
            Snapshot::of(&token).describe()
        ))
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn a_token_goes_to_a_pipe_but_to_a_terminal_only_with_show() {
        assert_eq!(refusal(false, false), None);
        assert_eq!(refusal(true, true), None);
        let why = refusal(true, false).unwrap();
        assert!(why.contains("--show"), "{why}");
    }

    #[test]
    fn an_empty_or_missing_token_key_is_no_value() {
        let mut secret = Secret::default();
        assert_eq!(value_of(&secret), None);
        secret.data = Some([("token".to_owned(), ByteString(Vec::new()))].into());
        assert_eq!(value_of(&secret), None);
        secret.data = Some([("token".to_owned(), ByteString(b"wbat-x".to_vec()))].into());
        assert_eq!(value_of(&secret).as_deref(), Some("wbat-x"));
    }
}
