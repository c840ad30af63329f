//! `kubectl witboost revoke TOKEN`: `spec.revoked: true`, then a watch until phase Revoked.

use clap::Args;

use super::regenerate::Snapshot;
use super::{ChangeArgs, Connection, confirm, wait};
use crate::crd::AccessTokenPhase;

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub change: ChangeArgs,
}

/// "revoked ci-token: Active → Revoked (revision 3); its Secret no longer holds a value".
pub fn render(name: &str, before: &Snapshot, after: &Snapshot) -> String {
    let phase = |s: &Snapshot| {
        s.phase
            .map_or_else(|| "no phase".to_owned(), |p| format!("{p:?}"))
    };
    let revision = after
        .revision
        .map(|r| format!(" (revision {r})"))
        .unwrap_or_default();
    format!(
        "revoked {name}: {} → {}{revision}; its Secret no longer holds a value",
        phase(before),
        phase(after)
    )
}

pub async fn run(connection: &Connection, args: RevokeArgs) -> anyhow::Result<()> {
    let ChangeArgs {
        token: name,
        yes,
        timeout,
    } = args.change;
    let namespace = connection.namespace().to_owned();
    let token = connection.token(&name).await?;
    let before = Snapshot::of(&token);
    if token.spec.is_revoked() && before.phase == Some(AccessTokenPhase::Revoked) {
        eprintln!("{namespace}/{name} is already revoked: nothing changed");
        return Ok(());
    }
    confirm(
        &format!(
            "Revoke {namespace}/{name}? Its value stops working at once; \
             `kubectl patch` with revoked: false issues a new one."
        ),
        yes,
    )?;
    let patch = serde_json::json!({ "spec": { "revoked": true } });
    connection.patch_token(&name, &patch, "revoke").await?;
    eprintln!("set spec.revoked on {namespace}/{name}; waiting for the operator…");
    let done = wait::until(
        connection,
        &name,
        timeout,
        "revoke the token",
        |t| {
            let status = t.status.clone().unwrap_or_default();
            status.phase == Some(AccessTokenPhase::Revoked)
                && status.observed_generation == t.metadata.generation
        },
        |t| format!("last seen: {}", Snapshot::of(t).describe()),
    )
    .await?;
    println!("{}", render(&name, &before, &Snapshot::of(&done)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_says_the_phase_change_and_the_revision_that_ended() {
        let before = Snapshot {
            phase: Some(AccessTokenPhase::Active),
            revision: Some(3),
            expires_at: None,
        };
        let after = Snapshot {
            phase: Some(AccessTokenPhase::Revoked),
            ..before.clone()
        };
        assert_eq!(
            render("ci-token", &before, &after),
            "revoked ci-token: Active → Revoked (revision 3); its Secret no longer holds a value"
        );
    }
}
