//! Leader election with a `coordination.k8s.io/v1` Lease, the way client-go does it: one
//! replica runs the controllers, the others stand by (and serve the token service).
//!
//! Only one replica may decide which token of an account is active (the claim table lives in
//! memory), so the controllers start only once this process holds the Lease and stop as soon
//! as it cannot prove it still does. Expiry is judged on this process's monotonic clock from
//! the moment a change of the Lease was last observed, never by comparing another node's
//! `renewTime` with our wall clock, so clock skew between nodes cannot make two leaders.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{info, warn};

/// How long a leader that stops waits for the API to take its Lease back. Past it, the Lease
/// runs out after its duration, as if the process had been killed.
pub const RELEASE_DEADLINE: Duration = Duration::from_secs(2);

/// How an election runs. The defaults are client-go's.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's name in `holderIdentity`: unique among replicas.
    pub identity: String,
    /// How long a Lease nobody renews stays with its holder.
    pub lease_duration: Duration,
    /// How long the leader keeps leading when it cannot renew; shorter than `lease_duration`,
    /// so it has stopped before anyone else may take over.
    pub renew_deadline: Duration,
    /// How often candidates try and the leader renews.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// Default timings for Lease `name` in `namespace`, with a unique identity derived from
    /// `$POD_NAME` (or the host name) and a random suffix.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        let base = std::env::var("POD_NAME")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "witboost-token-operator".into());
        let suffix: u32 = rand::random();
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: format!("{base}_{suffix:08x}"),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl LeaseConfig {
    /// Checks the timings the way client-go does: the leader must give up before anyone may
    /// take over, and retry more than once before giving up.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration.as_secs() < 1 {
            return Err("the lease duration must be at least one second".into());
        }
        if self.renew_deadline >= self.lease_duration {
            return Err("the renew deadline must be shorter than the lease duration".into());
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return Err(
                "the retry period must be positive and shorter than the renew deadline".into(),
            );
        }
        if self.identity.is_empty() {
            return Err("the identity must not be empty".into());
        }
        Ok(())
    }
}

/// The Lease as last observed, and when (on our clock) it last changed.
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    duration: Duration,
    changed_at: Instant,
}

/// Who holds the Lease after one attempt.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// We do (acquired or renewed).
    Held,
    /// Someone else does, and their Lease has not run out.
    Other(String),
    /// The Lease changed between our read and our write: read again.
    Conflict,
}

/// One replica's view of the election.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

/// Holding the Lease: renewed in the background until `lost` or [`Leadership::release`].
pub struct Leadership {
    lost: CancellationToken,
    stop: CancellationToken,
    /// Dropped with the `Leadership` (a task stopped at once): the renewals stop with it.
    renewer: AbortOnDropHandle<Elector>,
}

impl Elector {
    pub fn new(client: kube::Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    /// Waits until this replica holds the Lease. `standing_by` is called every time another
    /// holder is seen.
    pub async fn acquire(mut self, standing_by: impl Fn(&str)) -> Leadership {
        let mut reported = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => break,
                Ok(Attempt::Conflict) => {}
                Ok(Attempt::Other(holder)) => {
                    if reported.as_ref() != Some(&holder) {
                        info!(%holder, lease = %self.config.name, "standing by: another replica leads");
                        reported = Some(holder.clone());
                    }
                    standing_by(&holder);
                }
                Err(error) => warn!(%error, "failed to read or take the leader Lease"),
            }
            tokio::time::sleep(jittered(self.config.retry_period)).await;
        }
        info!(identity = %self.config.identity, lease = %self.config.name, "became the leader");
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let renewer = AbortOnDropHandle::new(tokio::spawn(self.keep(lost.clone(), stop.clone())));
        Leadership {
            lost,
            stop,
            renewer,
        }
    }

    /// Renews until `stop`, or until the Lease is lost: taken by another replica, or not
    /// renewed within the renew deadline.
    async fn keep(mut self, lost: CancellationToken, stop: CancellationToken) -> Self {
        // When the last successful renewal was *sent*: the Lease runs from then at the latest.
        let mut renewed = Instant::now();
        loop {
            let left = self.config.renew_deadline.saturating_sub(renewed.elapsed());
            tokio::select! {
                () = stop.cancelled() => return self,
                () = tokio::time::sleep(self.config.retry_period.min(left)) => {}
            }
            let sent = Instant::now();
            let left = self.config.renew_deadline.saturating_sub(renewed.elapsed());
            // A stop abandons a renewal in flight: the release that follows reads the Lease
            // afresh, and an API that does not answer must not hold the shutdown up.
            let attempt = tokio::select! {
                () = stop.cancelled() => return self,
                attempt = tokio::time::timeout(left, self.try_acquire_or_renew()) => attempt,
            };
            match attempt {
                Ok(Ok(Attempt::Held)) => renewed = sent,
                Ok(Ok(Attempt::Other(holder))) => {
                    warn!(%holder, "the leader Lease was taken over");
                    lost.cancel();
                    return self;
                }
                // Someone else wrote the Lease (a label, say): the next try reads it again.
                Ok(Ok(Attempt::Conflict)) => {}
                Ok(Err(error)) => warn!(%error, "failed to renew the leader Lease"),
                Err(_) => {}
            }
            if renewed.elapsed() >= self.config.renew_deadline {
                warn!(
                    deadline = ?self.config.renew_deadline,
                    "could not renew the leader Lease in time"
                );
                lost.cancel();
                return self;
            }
        }
    }

    /// One step of client-go's `tryAcquireOrRenew`.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let now = MicroTime(jiff::Timestamp::now());
        let seconds = self.config.lease_duration.as_secs().max(1) as i32;
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            let mut lease = Lease::default();
            lease.metadata.name = Some(self.config.name.clone());
            lease.spec = Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            });
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Held),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Conflict),
                Err(error) => Err(error),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew_time != spec.renew_time);
        if changed {
            self.observed = Some(Observed {
                holder: holder.clone(),
                renew_time: spec.renew_time.clone(),
                duration: Duration::from_secs(
                    spec.lease_duration_seconds.unwrap_or(seconds).max(1) as u64,
                ),
                changed_at: Instant::now(),
            });
        }
        let ours = holder.as_deref() == Some(self.config.identity.as_str());
        if let (Some(other), Some(observed)) = (&holder, &self.observed)
            && !ours
            && observed.changed_at.elapsed() < observed.duration
        {
            return Ok(Attempt::Other(other.clone()));
        }
        let mut next = lease;
        next.spec = Some(LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(seconds),
            acquire_time: if ours {
                spec.acquire_time
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!ours)),
            ..spec
        });
        // The write carries the resourceVersion we read: of two candidates, one wins.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &next)
            .await
        {
            Ok(_) => Ok(Attempt::Held),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Conflict),
            Err(error) => Err(error),
        }
    }

    /// Gives the Lease up if we still hold it, so another replica takes over at once.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => info!(lease = %self.config.name, "released the leader Lease"),
            Err(error) => warn!(%error, "failed to release the leader Lease"),
        }
    }
}

impl Leadership {
    /// Resolves once the Lease is lost; the controllers must stop at once.
    pub async fn lost(&self) {
        self.lost.cancelled().await;
    }

    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Stops renewing and gives the Lease up (unless it was lost already), waiting at most
    /// [`RELEASE_DEADLINE`] for the API: a Lease not released runs out by itself, and the
    /// process must stop within seconds.
    pub async fn release(self) {
        self.stop.cancel();
        if let Ok(elector) = self.renewer.await
            && !self.lost.is_cancelled()
            && tokio::time::timeout(RELEASE_DEADLINE, elector.release())
                .await
                .is_err()
        {
            warn!(
                deadline = ?RELEASE_DEADLINE,
                "could not release the leader Lease in time; it runs out by itself"
            );
        }
    }
}

/// `period` plus up to 20 % more, so candidates do not retry in lockstep.
fn jittered(period: Duration) -> Duration {
    period + period.mul_f64(rand::random::<f64>() * 0.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_a_leader_must_give_up_before_others_may_take_over() {
        let config = LeaseConfig::new("ns", "lease");
        assert_eq!(config.validate(), Ok(()));
        assert!(config.identity.len() > "_00000000".len());
        let mut late = config.clone();
        late.renew_deadline = late.lease_duration;
        assert!(late.validate().unwrap_err().contains("renew deadline"));
        let mut busy = config.clone();
        busy.retry_period = busy.renew_deadline;
        assert!(busy.validate().unwrap_err().contains("retry period"));
        let mut short = config;
        short.lease_duration = Duration::from_millis(500);
        assert!(short.validate().is_err());
    }

    #[test]
    fn two_replicas_get_different_identities() {
        assert_ne!(
            LeaseConfig::new("ns", "lease").identity,
            LeaseConfig::new("ns", "lease").identity
        );
    }
}
