//! A compressed-time soak of witboost-token-operator: months of token life in minutes, under
//! faults, crashes and fail-overs, judged all the time by an observer that shares no code with
//! the operator.
//!
//! The driver starts a sandbox API server and two operator replicas with leader election as
//! separate processes of the operator's binary (`procs`), runs a seeded workload against the
//! API (`workload`) and a seeded fault schedule against the sandbox's loopback controls and the
//! replicas' processes (`faults`), exchanges every token value it has seen at both token
//! services and verifies the JWTs from the JWKS (`prober`), and checks the invariants from its
//! own watches and lists (`observer`), each against a bound written as a formula of the lease,
//! the resync period and the injected faults (`bounds`). What it saw goes into `report`; a
//! violation makes the run fail.
//!
//! Pure parts, tested without processes: `bounds`, `scan` (token and JWT shapes in text),
//! `rss` (memory slope), `judge` (the lateness of an accepted exchange).

#![forbid(unsafe_code)]

pub mod bounds;
pub mod faults;
pub mod http;
pub mod judge;
pub mod observer;
pub mod prober;
pub mod procs;
pub mod report;
pub mod rss;
pub mod run;
pub mod scan;
pub mod stop;
pub mod workload;
pub mod world;

/// Seconds since the Unix epoch, as a float: the one clock of the soak (expiry times in status
/// are wall-clock times).
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
