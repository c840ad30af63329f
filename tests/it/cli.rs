//! The binary's own subcommands, run as a user runs them.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use witboost_token_operator::{crd, token::Token};

const BIN: &str = env!("CARGO_BIN_EXE_witboost-token-operator");

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
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

#[test]
fn token_check_accepts_a_well_formed_token_and_prints_only_its_hint() {
    let token = Token::generate();
    let out = run(&["token", "check"], &format!("{}\n", token.expose()));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout.trim(), format!("valid: {}", token.hint()));
    assert!(!stdout.contains(token.expose()) && out.stderr.is_empty());
}

#[test]
fn token_check_rejects_a_malformed_token_with_exit_code_1_without_echoing_it() {
    let candidate = "wbat-notarealtokenbutlongenoughtolookliketheone1";
    let out = run(&["token", "check"], candidate);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.starts_with("invalid: "), "{stdout}");
    assert!(!stdout.contains("notarealtoken"));
}

#[test]
fn token_check_from_a_pipe_says_nothing_about_where_it_reads() {
    for input in [String::new(), format!("{}\n", Token::generate().expose())] {
        let out = run(&["token", "check"], &input);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.contains("reading a token"), "{stderr}");
        assert!(!stderr.contains("Ctrl-D"), "{stderr}");
    }
}

#[test]
fn crds_prints_every_crd_as_one_yaml_stream() {
    let out = run(&["crds"], "");
    assert_eq!(out.status.code(), Some(0));
    let expected: String = crd::all()
        .iter()
        .map(|c| format!("---\n{}", crd::to_yaml(c)))
        .collect();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn crds_output_dir_writes_one_file_per_crd_named_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["crds", "--output-dir", dir.path().to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0));
    for c in crd::all() {
        let text = std::fs::read_to_string(dir.path().join(crd::file_name(&c))).unwrap();
        assert_eq!(text, crd::to_yaml(&c));
    }
}
