//! `kubectl witboost jwt TOKEN`: the token's value, read from its Secret, exchanged at the token
//! service (`POST /api/auth/access-tokens/jwt`, Witboost's endpoint) for a JWT, which is printed
//! for pipes. Neither the value nor the JWT is ever part of a message.

use std::time::Duration;

use clap::Args;
use http::Method;

use super::token_service::TokenService;
use super::{Connection, OperatorArgs, Refusal, parse_timeout};

/// The token service's exchange endpoint.
const EXCHANGE_PATH: &str = "/api/auth/access-tokens/jwt";

#[derive(Debug, Args)]
pub struct JwtArgs {
    /// The AccessToken.
    pub token: String,
    /// The JWT's scopes, space-separated (default: none).
    #[arg(long)]
    pub scope: Option<String>,
    /// How long the JWT lives, e.g. 5m, 1h (default: the token service's, 5m unless configured).
    #[arg(long, value_parser = parse_timeout)]
    pub duration: Option<Duration>,
    /// Print the JWT even to a terminal (where others may read it).
    #[arg(long)]
    pub show: bool,
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// The exchange's request body.
pub fn request_body(value: &str, scope: Option<&str>, duration: Option<Duration>) -> Vec<u8> {
    let mut body = serde_json::json!({ "access_token": value });
    if let Some(scope) = scope {
        body["scope"] = scope.into();
    }
    if let Some(duration) = duration {
        body["duration_seconds"] = duration.as_secs().into();
    }
    serde_json::to_vec(&body).expect("JSON values serialise")
}

pub async fn run(connection: &Connection, args: JwtArgs) -> anyhow::Result<()> {
    if args.duration.is_some_and(|d| d.as_secs() == 0) {
        return Err(Refusal::usage("--duration must be at least 1s"));
    }
    let service = TokenService::locate(connection, &args.operator)?;
    let value = super::token::read_value(connection, &args.token).await?;
    let body = request_body(&value, args.scope.as_deref(), args.duration);
    let answer = service
        .request(Method::POST, EXCHANGE_PATH, Some(body))
        .await?;
    let jwt = answer
        .status
        .is_success()
        .then(|| answer.json())
        .flatten()
        .and_then(|json| json["jwt"].as_str().map(str::to_owned));
    match jwt {
        Some(jwt) => {
            println!("{jwt}");
            Ok(())
        }
        None if answer.status.is_success() => Err(Refusal::failure(format!(
            "{} answered without a JWT",
            service.described
        ))),
        None => Err(Refusal::failure(format!(
            "{} refused to exchange {}: {}",
            service.described,
            args.token,
            answer.failure()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_scope_and_duration_only_when_given() {
        let plain: serde_json::Value =
            serde_json::from_slice(&request_body("v", None, None)).unwrap();
        assert_eq!(plain, serde_json::json!({ "access_token": "v" }));
        let full: serde_json::Value = serde_json::from_slice(&request_body(
            "v",
            Some("a b"),
            Some(Duration::from_secs(600)),
        ))
        .unwrap();
        assert_eq!(
            full,
            serde_json::json!({ "access_token": "v", "scope": "a b", "duration_seconds": 600 })
        );
    }
}
