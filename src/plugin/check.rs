//! `kubectl witboost check`: is the installation working? One verdict per line, in the manner
//! of cert-manager's `cmctl check api`: each CRD installed, Established and serving the version
//! this plugin speaks; the operator's leader Lease held and renewed within its duration; the
//! token service answering through its Service (its JWKS); each BasicAuth Ready. Exit code 0
//! when every check passes, 1 otherwise; `--wait` checks again until they pass.
//!
//! Each check is judged by a plain function of what was read, tested without a cluster.

use std::time::Duration;

use clap::Args;
use http::Method;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::ListParams;
use serde::Serialize;

use super::token_service::{Answer, TokenService};
use super::{Connection, OperatorArgs, OutputFormat, Refusal, Style, Tone, parse_timeout};
use crate::crd::BasicAuth;

/// The operator's Lease when it watches every namespace (`run`'s default).
const LEASE: &str = "witboost-token-operator";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The operator's leader Lease (with `watchNamespace`: `witboost-token-operator.<namespace>`;
    /// empty: not checked, for an operator run with --leader-elect=false).
    #[arg(long, default_value = LEASE)]
    pub lease: String,
    /// Check again, once a second, until every check passes or this time is up (e.g. 30s).
    #[arg(long, value_parser = parse_timeout)]
    pub wait: Option<Duration>,
    /// Output format.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// One verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: "CustomResourceDefinition accesstokens.iam.witboost.com".
    pub subject: String,
    pub ok: bool,
    /// What was found, or what is wrong and what to do about it.
    pub message: String,
}

impl Check {
    fn pass(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            ok: true,
            message: message.into(),
        }
    }

    fn fail(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            ok: false,
            message: message.into(),
        }
    }
}

/// Every verdict, and the overall one.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn of(checks: Vec<Check>) -> Self {
        Self {
            ok: checks.iter().all(|c| c.ok),
            checks,
        }
    }
}

/// A CRD of ours as found: installed, Established, serving the version of `wanted`.
pub fn judge_crd(
    wanted: &CustomResourceDefinition,
    found: Option<&CustomResourceDefinition>,
) -> Check {
    let name = wanted.metadata.name.clone().unwrap_or_default();
    let subject = format!("CustomResourceDefinition {name}");
    let Some(found) = found else {
        return Check::fail(
            subject,
            "not installed: install the chart (crds.enabled=true) or `kubectl apply \
             --server-side -f crds/`",
        );
    };
    let served: Vec<&str> = found
        .spec
        .versions
        .iter()
        .filter(|v| v.served)
        .map(|v| v.name.as_str())
        .collect();
    let storage = found
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map_or("none", |v| v.name.as_str());
    let versions = format!("serves {}, stores {storage}", served.join(", "));
    let missing: Vec<&str> = wanted
        .spec
        .versions
        .iter()
        .filter(|v| v.served && !served.contains(&v.name.as_str()))
        .map(|v| v.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Check::fail(
            subject,
            format!(
                "{versions}, not {} that this plugin reads: upgrade the CRDs",
                missing.join(", ")
            ),
        );
    }
    let established = found
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Established");
    match established {
        Some(c) if c.status == "True" => Check::pass(subject, format!("{versions}, Established")),
        Some(c) => Check::fail(
            subject,
            format!(
                "{versions}, not Established: {} {}",
                c.reason.as_deref().unwrap_or_default(),
                c.message.as_deref().unwrap_or_default()
            ),
        ),
        None => Check::fail(subject, format!("{versions}, not Established yet")),
    }
}

/// The leader Lease: held, and renewed within its duration of `now`.
pub fn judge_lease(
    namespace: &str,
    name: &str,
    lease: Option<&Lease>,
    now: jiff::Timestamp,
) -> Check {
    let subject = format!("Lease {namespace}/{name}");
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return Check::fail(
            subject,
            format!(
                "not found: the operator is not running in namespace {namespace} \
                 (--operator-namespace names another; --lease names the Lease of an operator \
                 with watchNamespace)"
            ),
        );
    };
    let Some(holder) = spec.holder_identity.as_deref().filter(|h| !h.is_empty()) else {
        return Check::fail(subject, "held by no one: no operator replica leads");
    };
    let duration = spec.lease_duration_seconds.unwrap_or(15);
    let Some(renewed) = spec.renew_time.as_ref().map(|t| t.0) else {
        return Check::fail(subject, format!("held by {holder}, never renewed"));
    };
    let age = now.as_second() - renewed.as_second();
    if age <= i64::from(duration) {
        // A renewal within the second (or stamped by a clock a little ahead) is "just now".
        let when = if age < 1 {
            "just now".to_owned()
        } else {
            super::relative(now, renewed)
        };
        Check::pass(subject, format!("held by {holder}, renewed {when}"))
    } else {
        Check::fail(
            subject,
            format!(
                "held by {holder}, but renewed {} (longer than its {duration}s): the leader \
                 is gone or cut off from the API",
                super::relative(now, renewed)
            ),
        )
    }
}

/// The token service's JWKS: answered, with at least one key.
pub fn judge_token_service(described: &str, answer: Result<&Answer, &anyhow::Error>) -> Check {
    let subject = format!("token service ({described})");
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return Check::fail(subject, format!("{error:#}")),
    };
    if !answer.status.is_success() {
        return Check::fail(subject, answer.failure());
    }
    let keys = answer
        .json()
        .and_then(|j| j["keys"].as_array().map(Vec::len))
        .unwrap_or(0);
    if keys == 0 {
        Check::fail(subject, "answers, but publishes no signing key")
    } else {
        let plural = if keys == 1 { "" } else { "s" };
        Check::pass(
            subject,
            format!("ready: publishes {keys} signing key{plural}"),
        )
    }
}

/// A BasicAuth: Ready, or why not.
pub fn judge_basic_auth(basic_auth: &BasicAuth) -> Check {
    let subject = format!(
        "BasicAuth {}/{}",
        basic_auth.metadata.namespace.as_deref().unwrap_or_default(),
        basic_auth.metadata.name.as_deref().unwrap_or_default()
    );
    let ready = basic_auth
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready");
    match ready {
        Some(c) if c.status == "True" => Check::pass(subject, format!("Ready ({})", c.reason)),
        Some(c) => Check::fail(subject, format!("not Ready: {}: {}", c.reason, c.message)),
        None => Check::fail(
            subject,
            "no Ready condition yet: is the BasicAuth controller on?",
        ),
    }
}

/// One line per check, and the verdict.
pub fn render(report: &Report, style: Style) -> String {
    let mut out = String::new();
    for check in &report.checks {
        let mark = if check.ok {
            style.paint("ok  ", Tone::Good)
        } else {
            style.paint("FAIL", Tone::Bad)
        };
        out.push_str(&format!("{mark}  {}: {}\n", check.subject, check.message));
    }
    let failed = report.checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        out.push_str(&style.paint(
            &format!("all {} checks passed\n", report.checks.len()),
            Tone::Good,
        ));
    } else {
        out.push_str(&style.paint(
            &format!("{failed} of {} checks failed\n", report.checks.len()),
            Tone::Bad,
        ));
    }
    out
}

/// Reads everything once and judges it.
async fn check_once(
    connection: &Connection,
    basic_auth_namespace: Option<&str>,
    args: &CheckArgs,
    service: &TokenService,
) -> anyhow::Result<Report> {
    let mut checks = Vec::new();
    let crds: Api<CustomResourceDefinition> = Api::all(connection.client.clone());
    for wanted in crate::crd::all() {
        let name = wanted.metadata.name.clone().unwrap_or_default();
        let found = crds
            .get_opt(&name)
            .await
            .map_err(|e| anyhow::Error::new(e).context(format!("failed to read CRD {name}")))?;
        checks.push(judge_crd(&wanted, found.as_ref()));
    }
    if !args.lease.is_empty() {
        let namespace = &args.operator.operator_namespace;
        let leases: Api<Lease> = Api::namespaced(connection.client.clone(), namespace);
        let lease = leases.get_opt(&args.lease).await.map_err(|e| {
            anyhow::Error::new(e)
                .context(format!("failed to read Lease {namespace}/{}", args.lease))
        })?;
        checks.push(judge_lease(
            namespace,
            &args.lease,
            lease.as_ref(),
            jiff::Timestamp::now(),
        ));
    }
    let answer = service
        .request(Method::GET, "/.well-known/jwks.json", None)
        .await;
    checks.push(judge_token_service(&service.described, answer.as_ref()));
    // Without the CRD there is nothing to list; its own line already says so.
    let basic_auths_served = checks
        .iter()
        .any(|c| c.ok && c.subject == "CustomResourceDefinition basicauths.iam.witboost.com");
    if basic_auths_served {
        let api: Api<BasicAuth> = match basic_auth_namespace {
            Some(ns) => Api::namespaced(connection.client.clone(), ns),
            None => Api::all(connection.client.clone()),
        };
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| anyhow::Error::new(e).context("failed to list BasicAuths"))?;
        checks.extend(list.items.iter().map(judge_basic_auth));
    }
    Ok(Report::of(checks))
}

pub async fn run(
    connection: &Connection,
    namespace_given: bool,
    args: CheckArgs,
) -> anyhow::Result<()> {
    let service = TokenService::locate(connection, &args.operator)?;
    // BasicAuths of every namespace, unless -n names one.
    let scope = connection.namespace.as_deref().filter(|_| namespace_given);
    let deadline = args.wait.map(|w| tokio::time::Instant::now() + w);
    let report = loop {
        let report = check_once(connection, scope, &args, &service).await?;
        match deadline {
            Some(deadline) if !report.ok && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => break report,
        }
    };
    match args.output {
        Some(format) => print!("{}", super::status::render_structured(&report, format)?),
        None => print!("{}", render(&report, Style::for_stdout())),
    }
    if report.ok {
        Ok(())
    } else {
        Err(Refusal::failure(
            "the installation is not working: see the FAIL lines",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(second).unwrap()
    }

    fn lease(holder: Option<&str>, renewed: Option<i64>) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                lease_duration_seconds: Some(15),
                renew_time: renewed.map(|s| MicroTime(at(s))),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_lease_renewed_within_its_duration_is_held_and_an_older_one_is_not() {
        let now = at(1_000_000);
        let fresh = judge_lease(
            "ops",
            "wto",
            Some(&lease(Some("pod-a"), Some(999_995))),
            now,
        );
        assert!(fresh.ok, "{fresh:?}");
        assert_eq!(fresh.message, "held by pod-a, renewed 5s ago");
        let just = judge_lease(
            "ops",
            "wto",
            Some(&lease(Some("pod-a"), Some(1_000_001))),
            now,
        );
        assert_eq!(just.message, "held by pod-a, renewed just now");
        let stale = judge_lease(
            "ops",
            "wto",
            Some(&lease(Some("pod-a"), Some(999_900))),
            now,
        );
        assert!(!stale.ok);
        assert!(
            stale
                .message
                .contains("renewed 1m ago (longer than its 15s)"),
            "{stale:?}"
        );
        assert!(!judge_lease("ops", "wto", Some(&lease(None, Some(999_995))), now).ok);
        let missing = judge_lease("ops", "wto", None, now);
        assert!(!missing.ok);
        assert_eq!(missing.subject, "Lease ops/wto");
        assert!(
            missing.message.contains("--operator-namespace"),
            "{missing:?}"
        );
    }

    fn established(mut crd: CustomResourceDefinition, status: &str) -> CustomResourceDefinition {
        crd.status = Some(serde_json::from_value(serde_json::json!({
            "conditions": [{ "type": "Established", "status": status, "reason": "InitialNamesAccepted",
                             "message": "", "lastTransitionTime": "2030-01-01T00:00:00Z" }]
        })).unwrap());
        crd
    }

    #[test]
    fn a_crd_passes_when_installed_established_and_serving_our_version() {
        let wanted = crate::crd::all().remove(0);
        let name = wanted.metadata.name.clone().unwrap();
        let ok = judge_crd(&wanted, Some(&established(wanted.clone(), "True")));
        assert!(ok.ok, "{ok:?}");
        assert_eq!(ok.subject, format!("CustomResourceDefinition {name}"));
        assert_eq!(ok.message, "serves v1alpha1, stores v1alpha1, Established");

        assert!(!judge_crd(&wanted, None).ok);
        assert!(!judge_crd(&wanted, Some(&established(wanted.clone(), "False"))).ok);
        let mut other = established(wanted.clone(), "True");
        other.spec.versions[0].name = "v1beta9".into();
        let old = judge_crd(&wanted, Some(&other));
        assert!(!old.ok);
        assert!(
            old.message.contains("not v1alpha1 that this plugin reads"),
            "{old:?}"
        );
    }

    #[test]
    fn the_token_service_is_ready_when_it_publishes_a_key() {
        let answer = |code: u16, body: &str| Answer {
            status: http::StatusCode::from_u16(code).unwrap(),
            body: bytes::Bytes::from(body.to_owned()),
        };
        let ok = judge_token_service("svc", Ok(&answer(200, r#"{"keys":[{"kid":"a"}]}"#)));
        assert!(ok.ok);
        assert_eq!(ok.message, "ready: publishes 1 signing key");
        assert!(!judge_token_service("svc", Ok(&answer(200, r#"{"keys":[]}"#))).ok);
        let down = judge_token_service(
            "svc",
            Ok(&answer(
                503,
                r#"{"kind":"Status","message":"no endpoints available for service \"x\""}"#,
            )),
        );
        assert!(!down.ok);
        assert!(down.message.contains("no endpoints available"), "{down:?}");
    }

    #[test]
    fn the_verdict_counts_failures_and_colours_only_when_asked() {
        let report = Report::of(vec![Check::pass("A", "fine"), Check::fail("B", "broken")]);
        assert!(!report.ok);
        assert_eq!(
            render(&report, Style::plain()),
            "ok    A: fine\nFAIL  B: broken\n1 of 2 checks failed\n"
        );
        assert!(render(&report, Style { colour: true }).contains("\x1b[31mFAIL\x1b[0m"));
        let all = Report::of(vec![Check::pass("A", "fine")]);
        assert!(render(&all, Style::plain()).ends_with("all 1 checks passed\n"));
    }
}
