//! The `soak` binary's command line (this test also makes `cargo test` build the binary that
//! `make soak-short` runs).

#[test]
fn the_soak_binary_states_its_options_and_refuses_a_run_without_the_operator_binary() {
    let soak = env!("CARGO_BIN_EXE_soak");
    let help = std::process::Command::new(soak)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for option in ["--binary", "--duration", "--accounts", "--seed"] {
        assert!(help.contains(option), "{help}");
    }
    let run = std::process::Command::new(soak)
        .args([
            "--binary",
            "/nonexistent/witboost-token-operator",
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{run:?}");
}

#[test]
fn durations_take_the_units_of_the_make_variables() {
    use soak::run::parse_duration;
    use std::time::Duration;
    assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
    assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
    assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
    assert!(parse_duration("30").is_err());
}
