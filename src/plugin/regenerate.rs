//! `kubectl witboost regenerate TOKEN`: a new value for an Active token, same expiry, through the
//! annotation `iam.witboost.com/regenerate-requested-at`; then a watch until the new revision.

use clap::Args;

use super::{ChangeArgs, Connection, Refusal, confirm, wait};
use crate::crd::{AccessToken, AccessTokenPhase, REGENERATE_ANNOTATION};

#[derive(Debug, Args)]
pub struct RegenerateArgs {
    #[command(flatten)]
    pub change: ChangeArgs,
}

/// The parts of a token a change is told by: revision, phase and expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub phase: Option<AccessTokenPhase>,
    pub revision: Option<i64>,
    pub expires_at: Option<jiff::Timestamp>,
}

impl Snapshot {
    pub fn of(token: &AccessToken) -> Self {
        let status = token.status.clone().unwrap_or_default();
        Self {
            phase: status.phase,
            revision: status.revision,
            expires_at: status.expires_at.map(|t| t.0),
        }
    }

    /// "phase Active, revision 3": for messages about the state last seen.
    pub fn describe(&self) -> String {
        let phase = self
            .phase
            .map_or_else(|| "no phase yet".to_owned(), |p| format!("phase {p:?}"));
        match self.revision {
            Some(revision) => format!("{phase}, revision {revision}"),
            None => phase,
        }
    }
}

fn revision_text(revision: Option<i64>) -> String {
    revision.map_or_else(|| "none".to_owned(), |r| r.to_string())
}

fn expiry_date(at: Option<jiff::Timestamp>) -> String {
    at.map_or_else(
        || "never".to_owned(),
        |at| {
            let text = at.to_string();
            // A whole day reads as its date; any other moment in full.
            text.strip_suffix("T00:00:00Z")
                .map_or(text.clone(), str::to_owned)
        },
    )
}

/// "regenerated ci-token: revision 3 → 4, expires 2030-01-01 (unchanged)".
pub fn render(name: &str, before: &Snapshot, after: &Snapshot) -> String {
    let expiry = if before.expires_at == after.expires_at {
        match after.expires_at {
            Some(_) => format!("expires {} (unchanged)", expiry_date(after.expires_at)),
            None => "never expires (unchanged)".to_owned(),
        }
    } else {
        format!(
            "expires {} (was {})",
            expiry_date(after.expires_at),
            expiry_date(before.expires_at)
        )
    };
    format!(
        "regenerated {name}: revision {} → {}, {expiry}",
        revision_text(before.revision),
        revision_text(after.revision)
    )
}

/// The annotation's new value: the current time, to the nanosecond, so two requests differ.
pub fn request_value(now: jiff::Timestamp) -> String {
    now.to_string()
}

pub async fn run(connection: &Connection, args: RegenerateArgs) -> anyhow::Result<()> {
    let ChangeArgs {
        token: name,
        yes,
        timeout,
    } = args.change;
    let namespace = connection.namespace().to_owned();
    let token = connection.token(&name).await?;
    let before = Snapshot::of(&token);
    if before.phase != Some(AccessTokenPhase::Active) {
        return Err(Refusal::failure(format!(
            "{name} is not Active ({}): only an Active token can be regenerated",
            before.describe()
        )));
    }
    confirm(
        &format!(
            "Regenerate {namespace}/{name}? Its current value stops working at once, \
             and workloads need the new one."
        ),
        yes,
    )?;
    let request = request_value(jiff::Timestamp::now());
    let patch = serde_json::json!({
        "metadata": { "annotations": { REGENERATE_ANNOTATION: request } }
    });
    connection.patch_token(&name, &patch, "annotate").await?;
    eprintln!("requested a new value for {namespace}/{name}; waiting for the operator…");
    let (awaited, previous) = (request.clone(), before.revision);
    let done = wait::until(
        connection,
        &name,
        timeout,
        "issue the new value",
        move |t| {
            let status = t.status.clone().unwrap_or_default();
            status.last_regenerate_request.as_deref() == Some(awaited.as_str())
                && status.phase == Some(AccessTokenPhase::Active)
                && status.revision > previous
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

    fn snapshot(revision: i64, expires: Option<&str>) -> Snapshot {
        Snapshot {
            phase: Some(AccessTokenPhase::Active),
            revision: Some(revision),
            expires_at: expires.map(|e| e.parse().unwrap()),
        }
    }

    #[test]
    fn a_regeneration_says_the_revisions_and_that_the_expiry_stayed() {
        assert_eq!(
            render(
                "ci-token",
                &snapshot(3, Some("2030-01-01T00:00:00Z")),
                &snapshot(4, Some("2030-01-01T00:00:00Z"))
            ),
            "regenerated ci-token: revision 3 → 4, expires 2030-01-01 (unchanged)"
        );
        assert_eq!(
            render("ci-token", &snapshot(1, None), &snapshot(2, None)),
            "regenerated ci-token: revision 1 → 2, never expires (unchanged)"
        );
    }

    #[test]
    fn a_changed_expiry_is_shown_with_the_old_one() {
        assert_eq!(
            render(
                "ci-token",
                &snapshot(3, Some("2030-01-01T00:00:00Z")),
                &snapshot(4, Some("2030-02-01T12:30:00Z"))
            ),
            "regenerated ci-token: revision 3 → 4, expires 2030-02-01T12:30:00Z (was 2030-01-01)"
        );
    }

    #[test]
    fn requests_made_a_moment_apart_differ() {
        let now = jiff::Timestamp::now();
        let later = now + jiff::SignedDuration::from_nanos(1);
        assert_ne!(request_value(now), request_value(later));
    }

    #[test]
    fn a_snapshot_describes_phase_and_revision() {
        assert_eq!(snapshot(3, None).describe(), "phase Active, revision 3");
    }
}
