//! `kubectl witboost status [NAME]`: ServiceAccounts → AccessTokens → Secrets as a tree, and
//! personal access tokens by user.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::Args;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt, api::ListParams};
use serde::Serialize;

use super::{Connection, OutputFormat, Refusal, Style, Tone, relative};
use crate::crd::{AccessToken, AccessTokenPhase, ServiceAccount};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this ServiceAccount (with its tokens) or this AccessToken.
    pub name: Option<String>,
    /// Print a structured form instead of the tree.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
}

/// What `status` shows: accounts with their tokens, and personal access tokens by user.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub service_accounts: Vec<AccountEntry>,
    pub users: Vec<UserEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountEntry {
    pub namespace: String,
    pub name: String,
    /// `None` when tokens name a ServiceAccount that does not exist.
    pub email: Option<String>,
    pub found: bool,
    pub disabled: bool,
    pub tokens: Vec<TokenEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntry {
    pub user: String,
    pub tokens: Vec<TokenEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenEntry {
    pub namespace: String,
    pub name: String,
    pub phase: Option<AccessTokenPhase>,
    pub revision: Option<i64>,
    pub expires_at: Option<jiff::Timestamp>,
    pub ready: Option<ReadyEntry>,
    pub secret: SecretEntry,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyEntry {
    pub status: String,
    pub reason: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretEntry {
    pub name: String,
    /// `None` when the Secrets could not be read (no permission).
    pub exists: Option<bool>,
    pub has_value: Option<bool>,
}

impl TokenEntry {
    /// The entry of `token`; `secrets` are the namespace's Secrets by name, `None` if unreadable.
    pub fn of(token: &AccessToken, secrets: Option<&BTreeMap<(String, String), Secret>>) -> Self {
        let namespace = token.namespace().unwrap_or_default();
        let status = token.status.clone().unwrap_or_default();
        let secret_name = status
            .secret_name
            .clone()
            .unwrap_or_else(|| token.secret_name());
        let secret = secrets.map(|s| s.get(&(namespace.clone(), secret_name.clone())));
        let ready = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .map(|c| ReadyEntry {
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
            });
        Self {
            name: token.name_any(),
            namespace,
            phase: status.phase,
            revision: status.revision,
            expires_at: status.expires_at.map(|t| t.0),
            ready,
            secret: SecretEntry {
                name: secret_name,
                exists: secret.map(|s| s.is_some()),
                has_value: secret.map(|s| s.is_some_and(has_value)),
            },
        }
    }
}

fn has_value(secret: &Secret) -> bool {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .is_some_and(|v| !v.0.is_empty())
}

/// Groups tokens under their ServiceAccount or user; `name` keeps only the account or token of
/// that name. Accounts and users come sorted, tokens by name.
pub fn build(
    accounts: &[ServiceAccount],
    tokens: &[AccessToken],
    secrets: Option<&BTreeMap<(String, String), Secret>>,
    name: Option<&str>,
) -> Report {
    let mut by_account: BTreeMap<(String, String), AccountEntry> = accounts
        .iter()
        .map(|a| {
            let key = (a.namespace().unwrap_or_default(), a.name_any());
            let entry = AccountEntry {
                namespace: key.0.clone(),
                name: key.1.clone(),
                email: Some(a.spec.email.clone()),
                found: true,
                disabled: a.spec.disabled.unwrap_or(false),
                tokens: Vec::new(),
            };
            (key, entry)
        })
        .collect();
    let mut by_user: BTreeMap<String, UserEntry> = BTreeMap::new();
    let mut tokens: Vec<&AccessToken> = tokens.iter().collect();
    tokens.sort_by_key(|t| (t.namespace(), t.name_any()));
    for token in tokens {
        let entry = TokenEntry::of(token, secrets);
        if let Some(account) = &token.spec.service_account_name {
            let key = (entry.namespace.clone(), account.clone());
            by_account
                .entry(key.clone())
                .or_insert_with(|| AccountEntry {
                    namespace: key.0,
                    name: key.1,
                    email: None,
                    found: false,
                    disabled: false,
                    tokens: Vec::new(),
                })
                .tokens
                .push(entry);
        } else if let Some(user) = token.spec.user_email() {
            by_user
                .entry(user.clone())
                .or_insert_with(|| UserEntry {
                    user,
                    tokens: Vec::new(),
                })
                .tokens
                .push(entry);
        }
    }
    let mut report = Report {
        service_accounts: by_account.into_values().collect(),
        users: by_user.into_values().collect(),
    };
    if let Some(name) = name {
        report.service_accounts.retain_mut(|a| {
            a.name == name || {
                a.tokens.retain(|t| t.name == name);
                !a.tokens.is_empty()
            }
        });
        report.users.retain_mut(|u| {
            u.tokens.retain(|t| t.name == name);
            !u.tokens.is_empty()
        });
    }
    report
}

/// The tree for people. `namespaced` prefixes every name with its namespace (for `-A`).
pub fn render(report: &Report, now: jiff::Timestamp, style: Style, namespaced: bool) -> String {
    let mut out = String::new();
    let qualified = |namespace: &str, name: &str| {
        if namespaced {
            format!("{namespace}/{name}")
        } else {
            name.to_owned()
        }
    };
    for account in &report.service_accounts {
        let about = match (&account.email, account.found, account.disabled) {
            (_, false, _) => style.paint("not found", Tone::Bad),
            (Some(email), true, true) => {
                format!("{email}, {}", style.paint("disabled", Tone::Bad))
            }
            (Some(email), true, false) => email.clone(),
            (None, true, _) => String::new(),
        };
        out.push_str(&format!(
            "ServiceAccount {} ({about})\n",
            qualified(&account.namespace, &account.name)
        ));
        render_tokens(&mut out, &account.tokens, now, style, &qualified);
        if account.tokens.is_empty() {
            out.push_str(&format!(
                "└── {}\n",
                style.paint("no AccessTokens", Tone::Dim)
            ));
        }
    }
    for user in &report.users {
        out.push_str(&format!("User {} (personal access tokens)\n", user.user));
        render_tokens(&mut out, &user.tokens, now, style, &qualified);
    }
    if out.is_empty() {
        out.push_str("no ServiceAccounts or AccessTokens found\n");
    }
    out
}

fn render_tokens(
    out: &mut String,
    tokens: &[TokenEntry],
    now: jiff::Timestamp,
    style: Style,
    qualified: &dyn Fn(&str, &str) -> String,
) {
    for (i, token) in tokens.iter().enumerate() {
        let last = i + 1 == tokens.len();
        let (branch, stem) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let mut line = format!(
            "{branch}AccessToken {}  {}",
            qualified(&token.namespace, &token.name),
            phase_text(token.phase, style)
        );
        if let Some(revision) = token.revision {
            line.push_str(&format!("  revision {revision}"));
        }
        let expiry = expiry_text(token, now);
        if !expiry.is_empty() {
            line.push_str(&format!("  {expiry}"));
        }
        out.push_str(&line);
        out.push('\n');
        if let Some(ready) = &token.ready {
            let tone = if ready.status == "True" {
                Tone::Good
            } else {
                Tone::Waiting
            };
            let mut text = format!("Ready={} {}", ready.status, ready.reason);
            if !ready.message.is_empty() {
                text.push_str(&format!(": {}", ready.message));
            }
            out.push_str(&format!("{stem}├── {}\n", style.paint(&text, tone)));
        }
        let secret = &token.secret;
        let held = match (secret.exists, secret.has_value) {
            (None, _) => "not readable".to_owned(),
            (Some(false), _) => style.paint("absent", Tone::Dim),
            (Some(true), Some(true)) => "holds the value".to_owned(),
            (Some(true), _) => style.paint("no value", Tone::Dim),
        };
        out.push_str(&format!("{stem}└── Secret {} ({held})\n", secret.name));
    }
}

fn phase_text(phase: Option<AccessTokenPhase>, style: Style) -> String {
    match phase {
        Some(AccessTokenPhase::Active) => style.paint("Active", Tone::Good),
        Some(AccessTokenPhase::Pending) => style.paint("Pending", Tone::Waiting),
        Some(AccessTokenPhase::Expired) => style.paint("Expired", Tone::Bad),
        Some(AccessTokenPhase::Revoked) => style.paint("Revoked", Tone::Bad),
        None => style.paint("(not reconciled yet)", Tone::Dim),
    }
}

/// "expires in 29d", "expired 2h ago", "never expires".
pub fn expiry_text(token: &TokenEntry, now: jiff::Timestamp) -> String {
    match token.expires_at {
        None if token.revision.is_some() => "never expires".to_owned(),
        None => String::new(),
        Some(at) if at > now => format!("expires {}", relative(now, at)),
        Some(at) => format!("expired {}", relative(now, at)),
    }
}

/// The structured form for `-o json|yaml`.
pub fn render_structured(report: &impl Serialize, format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(report)?),
        OutputFormat::Yaml => serde_saphyr::to_string(report)?,
    })
}

pub async fn run(connection: &Connection, args: StatusArgs) -> anyhow::Result<()> {
    let client = connection.client.clone();
    let (accounts, tokens, secrets): (Api<ServiceAccount>, Api<AccessToken>, Api<Secret>) =
        match connection.namespace.as_deref() {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client, ns),
            ),
            None => (
                Api::all(client.clone()),
                Api::all(client.clone()),
                Api::all(client),
            ),
        };
    let where_ = connection.namespace.as_deref().map_or_else(
        || "any namespace".to_owned(),
        |ns| format!("namespace {ns}"),
    );
    let tokens = tokens
        .list(&ListParams::default())
        .await
        .context("failed to list AccessTokens")?
        .items;
    let accounts = accounts
        .list(&ListParams::default())
        .await
        .context("failed to list ServiceAccounts")?
        .items;
    // The operator labels its Secrets; whoever may not read Secrets still sees the rest.
    let secrets = match secrets
        .list(&ListParams::default().labels("iam.witboost.com/access-token"))
        .await
    {
        Ok(list) => Some(
            list.items
                .into_iter()
                .map(|s| ((s.namespace().unwrap_or_default(), s.name_any()), s))
                .collect::<BTreeMap<_, _>>(),
        ),
        Err(error) => {
            eprintln!("warning: Secrets not shown: {error}");
            None
        }
    };
    let report = build(&accounts, &tokens, secrets.as_ref(), args.name.as_deref());
    if let Some(name) = &args.name
        && report.service_accounts.is_empty()
        && report.users.is_empty()
    {
        return Err(Refusal::failure(format!(
            "no ServiceAccount or AccessToken named {name} in {where_}"
        )));
    }
    let text = match args.output {
        Some(format) => render_structured(&report, format)?,
        None => render(
            &report,
            jiff::Timestamp::now(),
            Style::for_stdout(),
            connection.namespace.is_none(),
        ),
    };
    print!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{AccessTokenSpec, AccessTokenStatus, ServiceAccountSpec};
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn now() -> jiff::Timestamp {
        "2030-01-01T00:00:00Z".parse().unwrap()
    }

    fn account(name: &str) -> ServiceAccount {
        let mut a = ServiceAccount::new(
            name,
            ServiceAccountSpec {
                email: format!("{name}@example.com"),
                ..Default::default()
            },
        );
        a.metadata.namespace = Some("team".into());
        a
    }

    fn token(name: &str, account: Option<&str>, user: Option<&str>) -> AccessToken {
        let mut t = AccessToken::new(
            name,
            AccessTokenSpec {
                service_account_name: account.map(Into::into),
                user: user.map(Into::into),
                ..Default::default()
            },
        );
        t.metadata.namespace = Some("team".into());
        t
    }

    fn with_status(
        mut t: AccessToken,
        phase: AccessTokenPhase,
        revision: i64,
        ready: (&str, &str, &str),
    ) -> AccessToken {
        t.status = Some(AccessTokenStatus {
            phase: Some(phase),
            revision: Some(revision),
            expires_at: Some(Time("2030-01-30T00:00:00Z".parse().unwrap())),
            conditions: Some(vec![Condition {
                type_: "Ready".into(),
                status: ready.0.into(),
                reason: ready.1.into(),
                message: ready.2.into(),
                last_transition_time: Time(now()),
                observed_generation: None,
            }]),
            ..Default::default()
        });
        t
    }

    fn secret(name: &str, value: Option<&str>) -> ((String, String), Secret) {
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.metadata.namespace = Some("team".into());
        s.data = value.map(|v| [("token".to_owned(), ByteString(v.into()))].into());
        (("team".into(), name.into()), s)
    }

    fn example() -> (Vec<ServiceAccount>, Vec<AccessToken>) {
        let active = with_status(
            token("ci-token", Some("bot"), None),
            AccessTokenPhase::Active,
            3,
            ("True", "Active", "the token is active"),
        );
        let waiting = with_status(
            token("ci-next", Some("bot"), None),
            AccessTokenPhase::Pending,
            0,
            (
                "False",
                "AccountHasActiveToken",
                "ci-token is the account's active token",
            ),
        );
        let pat = token("alice-pat", None, Some("Alice@Example.com"));
        let orphan = token("lost", Some("ghost"), None);
        (
            vec![account("bot"), account("idle")],
            vec![waiting, active, pat, orphan],
        )
    }

    #[test]
    fn the_tree_shows_each_account_its_tokens_and_their_secrets() {
        let (accounts, tokens) = example();
        let secrets: BTreeMap<_, _> = [secret("ci-token", Some("wbat-x")), secret("ci-next", None)]
            .into_iter()
            .collect();
        let report = build(&accounts, &tokens, Some(&secrets), None);
        let text = render(&report, now(), Style::plain(), false);
        assert_eq!(
            text,
            "\
ServiceAccount bot (bot@example.com)
├── AccessToken ci-next  Pending  revision 0  expires in 29d
│   ├── Ready=False AccountHasActiveToken: ci-token is the account's active token
│   └── Secret ci-next (no value)
└── AccessToken ci-token  Active  revision 3  expires in 29d
    ├── Ready=True Active: the token is active
    └── Secret ci-token (holds the value)
ServiceAccount ghost (not found)
└── AccessToken lost  (not reconciled yet)
    └── Secret lost (absent)
ServiceAccount idle (idle@example.com)
└── no AccessTokens
User alice@example.com (personal access tokens)
└── AccessToken alice-pat  (not reconciled yet)
    └── Secret alice-pat (absent)
"
        );
    }

    #[test]
    fn a_name_selects_an_account_with_all_its_tokens_or_one_token() {
        let (accounts, tokens) = example();
        let by_account = build(&accounts, &tokens, None, Some("bot"));
        assert_eq!(by_account.service_accounts.len(), 1);
        assert_eq!(by_account.service_accounts[0].tokens.len(), 2);
        assert!(by_account.users.is_empty());

        let by_token = build(&accounts, &tokens, None, Some("ci-token"));
        assert_eq!(by_token.service_accounts.len(), 1);
        assert_eq!(by_token.service_accounts[0].tokens[0].name, "ci-token");
        assert_eq!(by_token.service_accounts[0].tokens.len(), 1);

        let pat = build(&accounts, &tokens, None, Some("alice-pat"));
        assert!(pat.service_accounts.is_empty());
        assert_eq!(pat.users[0].user, "alice@example.com");

        assert_eq!(
            build(&accounts, &tokens, None, Some("nope")),
            Report::default()
        );
    }

    #[test]
    fn unreadable_secrets_are_said_to_be_so() {
        let (accounts, tokens) = example();
        let report = build(&accounts, &tokens, None, Some("ci-token"));
        let text = render(&report, now(), Style::plain(), true);
        assert!(text.contains("AccessToken team/ci-token  Active"), "{text}");
        assert!(text.contains("Secret ci-token (not readable)"), "{text}");
    }

    #[test]
    fn expiry_reads_as_relative_time() {
        let (accounts, tokens) = example();
        let report = build(&accounts, &tokens, None, Some("ci-token"));
        let mut entry = report.service_accounts[0].tokens[0].clone();
        let later = "2030-02-01T00:00:00Z".parse().unwrap();
        assert_eq!(expiry_text(&entry, later), "expired 2d ago");
        entry.expires_at = None;
        assert_eq!(expiry_text(&entry, now()), "never expires");
    }

    #[test]
    fn the_structured_form_names_phase_revision_and_reason() {
        let (accounts, tokens) = example();
        let report = build(&accounts, &tokens, None, Some("ci-token"));
        let json: serde_json::Value =
            serde_json::from_str(&render_structured(&report, OutputFormat::Json).unwrap()).unwrap();
        let token = &json["serviceAccounts"][0]["tokens"][0];
        assert_eq!(token["phase"], "Active");
        assert_eq!(token["revision"], 3);
        assert_eq!(token["expiresAt"], "2030-01-30T00:00:00Z");
        assert_eq!(token["ready"]["reason"], "Active");
        let yaml = render_structured(&report, OutputFormat::Yaml).unwrap();
        assert!(yaml.contains("phase: Active"), "{yaml}");
    }
}
