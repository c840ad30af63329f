use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::*;
use crate::crd::ServiceAccountRules;

fn labels(name: &str, team: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kubernetes.io/metadata.name".to_owned(), name.to_owned()),
        ("team".to_owned(), team.to_owned()),
    ])
}

fn for_team(team: &str, spec: TokenPolicySpec) -> TokenPolicySpec {
    TokenPolicySpec {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([("team".to_owned(), team.to_owned())])),
            ..Default::default()
        }),
        ..spec
    }
}

fn robots(emails: &[&str], groups: &[&str], scopes: &[&str]) -> TokenPolicySpec {
    let list = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
    TokenPolicySpec {
        service_accounts: Some(ServiceAccountRules {
            emails: emails.iter().map(|s| s.to_string()).collect(),
            groups: list(groups),
            scopes: list(scopes),
        }),
        ..Default::default()
    }
}

fn account(email: &str, groups: &[&str], scopes: Option<&[&str]>) -> ServiceAccountSpec {
    ServiceAccountSpec {
        email: email.into(),
        groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        allowed_scopes: scopes.map(|v| v.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

#[test]
fn globs_match_whole_texts_with_stars_for_any_run() {
    for (pattern, text, expected) in [
        ("*", "", true),
        ("*", "anything", true),
        ("*@example.com", "bot@example.com", true),
        ("*@example.com", "bot@example.com.evil", false),
        ("*@example.com", "bot@sub.example.com", false),
        ("*example.com", "bot@sub.example.com", true),
        ("team-a-*", "team-a-", true),
        ("team-a-*", "team-b-x", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "ac", false),
        ("ab*b", "ab", false),
        ("ab*b", "abb", true),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("svc:*:read", "svc:x:read", true),
        ("svc:*:read", "svc:x:write", false),
    ] {
        assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
    }
}

#[test]
fn an_account_needs_its_email_every_group_and_every_scope_allowed_in_its_namespace() {
    let policies = Policies::new(&[for_team(
        "a",
        robots(&["*@robots.a.example.com"], &["team-a-*"], &["service:*"]),
    )]);
    let labels = labels("team-a", "a");
    let ns = Namespace {
        name: "team-a",
        labels: &labels,
    };
    let ok = account(
        "ci@robots.a.example.com",
        &["team-a-ci"],
        Some(&["service:cgp"]),
    );
    assert_eq!(policies.allows_account(&ns, &ok), Ok(()));
    let upper = account("CI@Robots.A.Example.com", &[], Some(&[]));
    assert_eq!(
        policies.allows_account(&ns, &upper),
        Ok(()),
        "emails compare in lower case"
    );

    let denied = |spec: ServiceAccountSpec| policies.allows_account(&ns, &spec).unwrap_err().0;
    let message = denied(account("admin@company.com", &[], Some(&[])));
    assert!(
        message.starts_with("spec.email \"admin@company.com\" is not allowed in namespace team-a"),
        "{message}"
    );
    assert!(
        message.contains("a cluster administrator grants it in a TokenPolicy"),
        "{message}"
    );
    let message = denied(account(
        "ci@robots.a.example.com",
        &["witboost-admins"],
        Some(&[]),
    ));
    assert!(
        message.starts_with("group \"witboost-admins\""),
        "{message}"
    );
    let message = denied(account(
        "ci@robots.a.example.com",
        &[],
        Some(&["platform:admin"]),
    ));
    assert!(message.starts_with("scope \"platform:admin\""), "{message}");
    let message = denied(account("ci@robots.a.example.com", &[], None));
    assert!(
        message.starts_with("spec.allowedScopes is unset"),
        "{message}"
    );
}

#[test]
fn a_policy_of_another_namespace_grants_nothing_and_policies_add_up() {
    let policies = Policies::new(&[
        for_team("a", robots(&["*@a.example.com"], &[], &[])),
        for_team("b", robots(&["*@b.example.com"], &["admins"], &["*"])),
        // Every namespace: one more group, nothing else.
        robots(&[], &["readers"], &[]),
    ]);
    let a_labels = labels("team-a", "a");
    let a = Namespace {
        name: "team-a",
        labels: &a_labels,
    };
    let b_labels = labels("team-b", "b");
    let b = Namespace {
        name: "team-b",
        labels: &b_labels,
    };
    let a_bot = account("bot@a.example.com", &["readers"], Some(&[]));
    assert_eq!(policies.allows_account(&a, &a_bot), Ok(()));
    assert!(
        policies.allows_account(&b, &a_bot).is_err(),
        "b may not claim a's emails"
    );
    let b_admin = account("bot@b.example.com", &["admins", "readers"], None);
    assert_eq!(policies.allows_account(&b, &b_admin), Ok(()));
    let a_admin = account("bot@a.example.com", &["admins"], Some(&[]));
    assert!(
        policies.allows_account(&a, &a_admin).is_err(),
        "b's group is not a's"
    );
}

#[test]
fn no_policy_allows_nothing_and_a_bad_selector_selects_nothing() {
    let labels = labels("team-a", "a");
    let ns = Namespace {
        name: "team-a",
        labels: &labels,
    };
    let bot = account("bot@example.com", &[], Some(&[]));
    assert!(Policies::default().allows_account(&ns, &bot).is_err());
    assert!(
        Policies::default()
            .allows_user(&ns, "me@example.com")
            .is_err()
    );
    let broken = TokenPolicySpec {
        namespace_selector: Some(LabelSelector {
            match_expressions: Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                    key: "team".into(),
                    operator: "Sometimes".into(),
                    values: None,
                },
            ]),
            ..Default::default()
        }),
        ..robots(&["*"], &[], &["*"])
    };
    assert!(Policies::new(&[broken]).allows_account(&ns, &bot).is_err());
}

#[test]
fn personal_access_tokens_are_allowed_only_for_listed_users() {
    let policies = Policies::new(&[for_team(
        "a",
        TokenPolicySpec {
            users: Some(vec!["*@a.example.com".into(), "Lead@Example.com".into()]),
            ..Default::default()
        },
    )]);
    let labels = labels("team-a", "a");
    let ns = Namespace {
        name: "team-a",
        labels: &labels,
    };
    assert_eq!(policies.allows_user(&ns, "dev@a.example.com"), Ok(()));
    assert_eq!(policies.allows_user(&ns, "lead@example.com"), Ok(()));
    let message = policies
        .allows_user(&ns, "admin@company.com")
        .unwrap_err()
        .0;
    assert!(
        message.starts_with("spec.user \"admin@company.com\" is not allowed"),
        "{message}"
    );
}

#[test]
fn lifetimes_are_bounded_by_the_most_generous_selecting_policy() {
    let hour = Duration::from_secs(3600);
    let capped = |max: &str| TokenPolicySpec {
        max_lifetime: Some(max.into()),
        ..Default::default()
    };
    let labels = labels("team-a", "a");
    let ns = Namespace {
        name: "team-a",
        labels: &labels,
    };
    let one = Policies::new(&[capped("1h")]);
    assert_eq!(one.allows_lifetime(&ns, Some(hour)), Ok(()));
    assert!(
        one.allows_lifetime(&ns, Some(hour * 2))
            .unwrap_err()
            .0
            .contains("7200s")
    );
    assert!(
        one.allows_lifetime(&ns, None)
            .unwrap_err()
            .0
            .contains("never expires")
    );
    let two = Policies::new(&[capped("1h"), capped("24h")]);
    assert_eq!(two.allows_lifetime(&ns, Some(hour * 2)), Ok(()));
    let required = Policies::new(&[TokenPolicySpec {
        require_expiry: Some(true),
        ..Default::default()
    }]);
    assert_eq!(required.allows_lifetime(&ns, Some(hour * 10_000)), Ok(()));
    assert!(required.allows_lifetime(&ns, None).is_err());
    let open = Policies::new(&[TokenPolicySpec::default()]);
    assert_eq!(open.allows_lifetime(&ns, None), Ok(()));
}
