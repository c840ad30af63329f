//! The fault schedule, seeded: write-failure bursts (a fraction of writes, or all, failing for
//! a few seconds), latency on every request, dropped watches, compacted history (and both),
//! SIGKILL of the leader or of the standby, and graceful restarts (SIGTERM) of either. The
//! sandbox's faults go through its loopback controls; a replica that is stopped is started
//! again after a moment.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use serde_json::json;
use tokio::sync::Mutex;

use crate::http::Http;
use crate::procs::{Replica, RunConfig};
use crate::stop::Stop;
use crate::world::World;

/// The limits of what the schedule injects (the bounds are computed from them).
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_latency: Duration,
    pub max_burst: Duration,
    /// The mean time between two API faults.
    pub interval: Duration,
    /// The mean time between two process faults (kills and restarts).
    pub process_interval: Duration,
    /// Process faults happen only this long into the run: the processes' last incarnations
    /// then live long enough for their memory to be judged (see [`crate::rss::WARM_UP`]).
    pub process_window: Duration,
}

pub struct Schedule {
    pub controls: String,
    pub replicas: Arc<Mutex<Vec<Replica>>>,
    pub run: RunConfig,
    pub world: Arc<World>,
    pub limits: Limits,
    pub http: Http,
}

const WRITES: [&str; 4] = ["create", "update", "patch", "delete"];

impl Schedule {
    async fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<()> {
        self.http
            .json(method, &format!("{}{path}", self.controls), body.as_ref())
            .await?;
        Ok(())
    }

    /// Everything off: no failures, no latency.
    pub async fn clear(&self) -> anyhow::Result<()> {
        self.control("DELETE", "/faults/failures", None).await?;
        self.control("PUT", "/faults/latency", Some(json!({"millis": 0})))
            .await
    }

    /// Which replica leads now (by its Lease identity), if any.
    async fn leader_index(&self) -> Option<usize> {
        let leader = self.world.with(|w| w.leader.clone())?;
        let replicas = self.replicas.lock().await;
        replicas
            .iter()
            .position(|r| leader.starts_with(&r.identity_prefix()))
    }

    /// Starts every replica that is not running.
    pub async fn restart_stopped(&self) -> anyhow::Result<()> {
        let mut replicas = self.replicas.lock().await;
        for replica in replicas.iter_mut() {
            if !replica.running() {
                replica.start(&self.run, &self.http).await?;
            }
        }
        Ok(())
    }

    /// API faults and process faults, each on its own seeded schedule, until `stop`.
    pub async fn run(&self, seed: u64, stop: Stop) -> anyhow::Result<()> {
        let (api, processes) = tokio::join!(
            self.api_faults(seed, stop.clone()),
            self.process_faults(seed, stop)
        );
        api.and(processes)
    }

    async fn api_faults(&self, seed: u64, mut stop: Stop) -> anyhow::Result<()> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_fa17);
        let mean = self.limits.interval.as_secs_f64();
        loop {
            if stop
                .sleep(Duration::from_secs_f64(
                    rng.random_range(mean / 2.0..mean * 1.5),
                ))
                .await
            {
                return Ok(());
            }
            match rng.random_range(0..5) {
                0 => {
                    let fraction = if rng.random_bool(0.5) { 1.0 } else { 0.3 };
                    for verb in WRITES {
                        let rule = json!({"verb": verb, "resource": "*", "code": 500, "fraction": fraction});
                        self.control("POST", "/faults/failures", Some(rule)).await?;
                    }
                    let burst = self.limits.max_burst.as_secs_f64() * rng.random_range(0.3..1.0);
                    tokio::time::sleep(Duration::from_secs_f64(burst)).await;
                    self.control("DELETE", "/faults/failures", None).await?;
                    self.world.fault(if fraction < 1.0 {
                        "write-failure burst (30 % of writes)"
                    } else {
                        "write-failure burst (every write)"
                    });
                }
                1 => {
                    let max = self.limits.max_latency.as_millis() as u64;
                    let millis = rng.random_range(max / 4..=max);
                    self.control("PUT", "/faults/latency", Some(json!({"millis": millis})))
                        .await?;
                    tokio::time::sleep(Duration::from_secs_f64(mean * rng.random_range(0.3..0.8)))
                        .await;
                    self.control("PUT", "/faults/latency", Some(json!({"millis": 0})))
                        .await?;
                    self.world.fault("latency on every request");
                }
                2 => {
                    self.control("POST", "/faults/close-watches", None).await?;
                    self.world.fault("watches dropped");
                }
                3 => {
                    self.control("POST", "/faults/expire-watches", None).await?;
                    self.world.fault("history compacted and watches dropped");
                }
                _ => {
                    self.control("POST", "/faults/compact", None).await?;
                    self.world.fault("history compacted");
                }
            }
        }
    }

    async fn process_faults(&self, seed: u64, mut stop: Stop) -> anyhow::Result<()> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0c0f_fee5);
        let mean = self.limits.process_interval.as_secs_f64();
        let until = tokio::time::Instant::now() + self.limits.process_window;
        loop {
            let next = Duration::from_secs_f64(rng.random_range(mean / 2.0..mean * 1.5));
            if tokio::time::Instant::now() + next > until {
                // The window is over: the processes run on until the end.
                return Ok(());
            }
            if stop.sleep(next).await {
                return Ok(());
            }
            match rng.random_range(0..4) {
                0..=2 => {
                    let Some(leader) = self.leader_index().await else {
                        continue;
                    };
                    let target = if rng.random_range(0..3) == 0 {
                        1 - leader
                    } else {
                        leader
                    };
                    self.replicas.lock().await[target].kill().await;
                    self.world.fault(if target == leader {
                        "SIGKILL of the leader"
                    } else {
                        "SIGKILL of the standby"
                    });
                    let pause = rng.random_range(0.5..3.0);
                    tokio::time::sleep(Duration::from_secs_f64(pause)).await;
                    self.restart_stopped().await?;
                }
                _ => {
                    let target = rng.random_range(0..2);
                    self.replicas.lock().await[target].stop().await;
                    self.world.fault("graceful restart (SIGTERM)");
                    self.restart_stopped().await?;
                }
            }
        }
    }
}
