//! `wrk` (Debian package `wrk`; `make bench` installs it) as the benchmarks run it: 2 threads,
//! keep-alive connections, every answer required to be a 2xx.
// Shared by the benchmarks that drive `wrk`; each uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// What `wrk` reports of a run.
pub struct Run {
    pub requests_per_sec: f64,
    pub requests: f64,
}

/// A `wrk` script that `POST`s `body` as JSON, written into `dir`.
pub fn post_json_script(dir: &Path, body: &str) -> PathBuf {
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.body = '{body}'\n"
        ),
    )
    .expect("wrk script");
    script
}

/// `wrk -t2 -c CONNECTIONS -d SECONDS EXTRA… URL`; panics unless every answer was a 2xx.
pub fn run(url: &str, seconds: u64, connections: u64, extra: &[&str]) -> Run {
    let output = Command::new("wrk")
        .args(["-t", "2", "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s")])
        .args(extra)
        .arg(url)
        .output()
        .expect("wrk runs (make bench installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "wrk saw failed answers from {url}:\n{text}"
    );
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    Run {
        requests_per_sec,
        requests,
    }
}
