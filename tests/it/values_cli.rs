//! `witboost-token-operator values basic-auth`, run as a user runs it.

use std::{
    io::Write,
    os::unix::fs::PermissionsExt,
    process::{Command, Output, Stdio},
};

use witboost_token_operator::witboost_config::values;

const BIN: &str = env!("CARGO_BIN_EXE_witboost-token-operator");

const VALUES: &str = "# Witboost values\nui:\n  appConfig:\n    app: {title: Witboost}\ngovernance-platform:\n  configOverride: |-\n    akka.loglevel = INFO\n";

fn run(args: &[&str], stdin: &str) -> Output {
    run_values("basic-auth", args, stdin)
}

fn run_trust(args: &[&str], stdin: &str) -> Output {
    run_values("trust", args, stdin)
}

fn run_values(command: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["values", command])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn values_basic_auth_prints_the_edited_file_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, VALUES).unwrap();
    let out = run(&["--enable", file.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        values::set_basic_auth(VALUES, true).unwrap().text
    );
    assert_eq!(
        values::basic_auth(&stdout(&out)).unwrap(),
        (Some(true), Some(true))
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), VALUES);
}

#[test]
fn values_basic_auth_reads_standard_input_given_a_dash() {
    let out = run(&["--disable", "-"], VALUES);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        values::basic_auth(&stdout(&out)).unwrap(),
        (Some(false), Some(false))
    );
}

#[test]
fn values_basic_auth_in_place_rewrites_the_file_keeping_its_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, VALUES).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(&["--enable", "--in-place", file.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(values::basic_auth(&text).unwrap(), (Some(true), Some(true)));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    // Nothing but the file itself is left in its directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn values_basic_auth_in_place_says_on_stderr_whether_it_changed_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, VALUES).unwrap();
    let path = file.to_str().unwrap();

    let out = run(&["--enable", "--in-place", path], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        format!("updated {path}: basic auth enabled in 2 places\n")
    );

    let out = run(&["--enable", "--in-place", path], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        format!("{path} is already up to date: basic auth enabled\n")
    );
}

#[test]
fn values_basic_auth_check_prints_a_diff_and_exits_1_until_the_file_is_in_the_requested_state() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, VALUES).unwrap();
    let path = file.to_str().unwrap();
    let out = run(&["--enable", "--check", path], "");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(
        diff.starts_with(&format!("--- {path}\n+++ {path}\n@@")),
        "{diff}"
    );
    assert!(diff.contains("\n+          enabled: true\n"), "{diff}");
    assert!(!diff.contains('\x1b'), "no colour into a pipe: {diff:?}");
    let message = stderr(&out);
    assert!(
        message.contains(&format!("{path} is not up to date")),
        "{message}"
    );
    assert!(message.contains("--in-place"), "{message}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        VALUES,
        "--check writes nothing"
    );

    assert_eq!(
        run(&["--enable", "--in-place", path], "").status.code(),
        Some(0)
    );
    let out = run(&["--enable", "--check", path], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        format!("{path} is up to date: basic auth enabled\n")
    );
    assert_eq!(
        run(&["--disable", "--check", path], "").status.code(),
        Some(1)
    );
}

#[test]
fn values_basic_auth_error_exits_2_naming_file_line_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    let text = "ui:\n  appConfig:\n    backend:\n      auth:\n        basicAuth:\n          enabled: ${BASIC_AUTH}\n";
    std::fs::write(&file, text).unwrap();
    let path = file.to_str().unwrap();
    for args in [
        vec!["--enable", path],
        vec!["--enable", "--in-place", path],
        vec!["--enable", "--check", path],
    ] {
        let out = run(&args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        let message = stderr(&out);
        assert!(message.contains(&format!("{path}: line 6: ")), "{message}");
        assert!(message.contains("ControlledByEnvironment"), "{message}");
        assert!(
            message.contains("set the environment variable"),
            "{message}"
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    let invalid = run(&["--enable", "-"], "ui: [unclosed\n");
    assert_eq!(invalid.status.code(), Some(2));
    assert!(
        stderr(&invalid).contains("<stdin>:"),
        "{}",
        stderr(&invalid)
    );

    let missing = run(&["--enable", "/nonexistent/values.yaml"], "");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("/nonexistent/values.yaml"),
        "{}",
        stderr(&missing)
    );

    let stdin_in_place = run(&["--enable", "--in-place", "-"], VALUES);
    assert_eq!(stdin_in_place.status.code(), Some(2));
}

#[test]
fn values_basic_auth_needs_exactly_one_of_enable_and_disable() {
    assert_eq!(run(&["-"], VALUES).status.code(), Some(2));
    assert_eq!(
        run(&["--enable", "--disable", "-"], VALUES).status.code(),
        Some(2)
    );
}

const ISSUER: &str = "https://wto.witboost.svc:8443";

/// A values file whose UI already has external access entries of its own.
const VALUES_WITH_ACCESS: &str = "ui:\n  appConfig:\n    backend:\n      auth:\n        externalAccess:\n          - type: static # the CI\n            options: {token: \"${CI_TOKEN}\", subject: ci}\n";

#[test]
fn values_trust_adds_one_entry_on_a_file_and_on_stdin_and_check_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, VALUES_WITH_ACCESS).unwrap();
    let path = file.to_str().unwrap();

    let printed = run_trust(&["--issuer", ISSUER, path], "");
    assert_eq!(printed.status.code(), Some(0), "{}", stderr(&printed));
    let from_stdin = run_trust(&["--issuer", ISSUER, "-"], VALUES_WITH_ACCESS);
    assert_eq!(from_stdin.status.code(), Some(0), "{}", stderr(&from_stdin));
    assert_eq!(stdout(&printed), stdout(&from_stdin));
    let text = stdout(&printed);
    assert!(text.starts_with(VALUES_WITH_ACCESS), "{text}");
    let entry = values::trust(&text, "witboost-token-operator")
        .unwrap()
        .unwrap();
    assert_eq!(
        entry["options"]["url"],
        format!("{ISSUER}/.well-known/jwks.json")
    );
    assert_eq!(entry["options"]["issuer"], ISSUER);
    assert_eq!(entry["options"]["audience"], "witboost");
    assert_eq!(entry["options"]["algorithm"], "ES256");

    let check = run_trust(&["--issuer", ISSUER, "--check", path], "");
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("+          - type: jwks\n"),
        "{}",
        stdout(&check)
    );
    let in_place = run_trust(&["--issuer", ISSUER, "--in-place", path], "");
    assert_eq!(in_place.status.code(), Some(0), "{}", stderr(&in_place));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let check = run_trust(&["--issuer", ISSUER, "--check", path], "");
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}

#[test]
fn values_trust_with_a_new_url_updates_the_entry_and_remove_takes_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, VALUES_WITH_ACCESS).unwrap();
    let path = file.to_str().unwrap();
    let first = run_trust(&["--issuer", ISSUER, "--in-place", path], "");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let moved = run_trust(
        &[
            "--issuer",
            "https://tokens.example.com",
            "--jwks-url",
            "http://wto.witboost.svc:8443/.well-known/jwks.json",
            "--algorithm",
            "RS512",
            "--in-place",
            path,
        ],
        "",
    );
    assert_eq!(moved.status.code(), Some(0), "{}", stderr(&moved));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.matches("type: jwks").count(), 1, "{text}");
    let entry = values::trust(&text, "witboost-token-operator")
        .unwrap()
        .unwrap();
    assert_eq!(
        entry["options"]["url"],
        "http://wto.witboost.svc:8443/.well-known/jwks.json"
    );
    assert_eq!(entry["options"]["algorithm"], "RS512");

    let removed = run_trust(&["--remove", "--in-place", path], "");
    assert_eq!(removed.status.code(), Some(0), "{}", stderr(&removed));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), VALUES_WITH_ACCESS);
    let check = run_trust(&["--remove", "--check", path], "");
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}

#[test]
fn values_trust_refuses_a_list_set_by_the_environment() {
    let text = "ui:\n  appConfig:\n    backend:\n      auth:\n        externalAccess: ${EXTERNAL_ACCESS}\n";
    let out = run_trust(&["--issuer", ISSUER, "-"], text);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ControlledByEnvironment"),
        "{}",
        stderr(&out)
    );
}
