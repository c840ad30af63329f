//! The workload: hundreds of accounts (ServiceAccounts and users' PATs), each with its
//! AccessToken of a random profile (rotating every few seconds with `renewBefore`, expiring
//! after seconds, or long-lived; some keeping a JWT, some restarting a Deployment), and a
//! seeded stream of operations: revokes, regenerations, account disables and re-enables,
//! deletes and re-creates of the same name, and a second token for an account that already
//! has one (it must wait). Every write that ends a value is recorded with the moment the API
//! acknowledged it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use serde_json::{Value, json};

use crate::observer::{NAMESPACE, access_tokens, service_accounts};
use crate::stop::Stop;
use crate::world::World;

/// What a token is made of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Profile {
    /// `duration` seconds, replaced `renew` seconds before expiry.
    Rotating { duration: u32, renew: u32 },
    /// `duration` seconds, then Expired.
    Expiring { duration: u32 },
    /// Two hours: outlives the run; what stays for the rest check.
    Long,
}

/// One account and its token.
#[derive(Clone, Debug)]
pub struct Slot {
    pub index: usize,
    /// `Some(name)` for a ServiceAccount, `None` for a user's PAT.
    pub service_account: Option<String>,
    pub user: String,
    pub token: String,
    pub uid: Option<String>,
    pub profile: Profile,
    pub jwt: bool,
    pub rollout: bool,
    pub revoked: bool,
    pub disabled: bool,
    /// A second token for the same account exists (named `<token>-b`).
    pub second: Option<String>,
}

impl Slot {
    pub fn account(&self) -> String {
        match &self.service_account {
            Some(sa) => format!("sa/{sa}"),
            None => format!("user/{}", self.user),
        }
    }
}

pub struct Workload {
    pub client: kube::Client,
    pub world: Arc<World>,
    pub slots: Vec<Slot>,
    rng: StdRng,
}

fn random_profile(rng: &mut StdRng) -> Profile {
    match rng.random_range(0..10) {
        0..=4 => {
            let duration = rng.random_range(8..=20);
            Profile::Rotating {
                duration,
                renew: rng.random_range(2..=duration / 2),
            }
        }
        5..=7 => Profile::Expiring {
            duration: rng.random_range(5..=15),
        },
        _ => Profile::Long,
    }
}

/// Retries a write through injected failures (500s) and latency, up to a minute.
async fn retry<T>(
    what: &str,
    mut write: impl AsyncFnMut() -> Result<T, kube::Error>,
) -> anyhow::Result<T> {
    let mut last = None;
    for _ in 0..300 {
        match write().await {
            Ok(t) => return Ok(t),
            Err(kube::Error::Api(s)) if s.code == 500 || s.code == 409 => last = Some(s),
            Err(e) => return Err(anyhow::anyhow!("{what}: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(anyhow::anyhow!("{what}: still failing: {last:?}"))
}

impl Workload {
    pub fn new(client: kube::Client, world: Arc<World>, accounts: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let slots = (0..accounts)
            .map(|index| {
                let profile = random_profile(&mut rng);
                Slot {
                    index,
                    service_account: (index % 3 != 2).then(|| format!("sa-{index}")),
                    user: format!("user-{index}@soak.example.com"),
                    token: format!("tok-{index}"),
                    uid: None,
                    profile,
                    jwt: rng.random_bool(0.2),
                    rollout: rng.random_bool(0.1),
                    revoked: false,
                    disabled: false,
                    second: None,
                }
            })
            .collect();
        Self {
            client,
            world,
            slots,
            rng,
        }
    }

    /// The namespace, the TokenPolicy that allows the workload, and every account, Deployment
    /// and token.
    pub async fn set_up(&mut self) -> anyhow::Result<()> {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        let ns = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?;
        retry("create the namespace", async || {
            namespaces.create(&PostParams::default(), &ns).await
        })
        .await?;
        let policy = json!({
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "TokenPolicy",
            "metadata": {"name": "soak"},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}},
                "serviceAccounts": {"emails": ["*@soak.example.com"], "groups": ["soak"], "scopes": ["*"]},
                "users": ["*@soak.example.com"],
            }
        });
        let gvk = kube::api::GroupVersionKind::gvk("iam.witboost.com", "v1alpha1", "TokenPolicy");
        let policies: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &kube::api::ApiResource::from_gvk_with_plural(&gvk, "tokenpolicies"),
        );
        let policy: DynamicObject = serde_json::from_value(policy)?;
        retry("create the TokenPolicy", async || {
            policies.create(&PostParams::default(), &policy).await
        })
        .await?;
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), NAMESPACE);
        for i in 0..self.slots.len() {
            let slot = self.slots[i].clone();
            if let Some(sa) = &slot.service_account {
                let account: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "iam.witboost.com/v1alpha1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": sa, "namespace": NAMESPACE},
                    "spec": {"email": format!("{sa}@soak.example.com"), "groups": ["soak"]},
                }))?;
                let api = service_accounts(&self.client);
                retry("create a ServiceAccount", async || {
                    api.create(&PostParams::default(), &account).await
                })
                .await?;
            }
            if slot.rollout {
                let deployment: Deployment = serde_json::from_value(json!({
                    "metadata": {"name": format!("app-{i}"), "namespace": NAMESPACE},
                    "spec": {
                        "replicas": 0,
                        "selector": {"matchLabels": {"app": format!("app-{i}")}},
                        "template": {
                            "metadata": {"labels": {"app": format!("app-{i}")}},
                            "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1"}]},
                        },
                    },
                }))?;
                retry("create a Deployment", async || {
                    deployments
                        .create(&PostParams::default(), &deployment)
                        .await
                })
                .await?;
            }
            self.create_token(i).await?;
        }
        Ok(())
    }

    fn token_object(
        &self,
        slot: &Slot,
        name: &str,
        profile: Profile,
    ) -> anyhow::Result<DynamicObject> {
        let mut spec = match &slot.service_account {
            Some(sa) => json!({"serviceAccountName": sa}),
            None => json!({"user": slot.user}),
        };
        match profile {
            Profile::Rotating { duration, renew } => {
                spec["duration"] = json!(format!("{duration}s"));
                spec["renewBefore"] = json!(format!("{renew}s"));
            }
            Profile::Expiring { duration } => spec["duration"] = json!(format!("{duration}s")),
            Profile::Long => spec["duration"] = json!("2h"),
        }
        if slot.jwt && name == slot.token {
            spec["jwt"] = json!({"durationSeconds": 10});
        }
        if slot.rollout && name == slot.token {
            spec["rolloutTargets"] =
                json!([{"kind": "Deployment", "name": format!("app-{}", slot.index)}]);
        }
        Ok(serde_json::from_value(json!({
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "AccessToken",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        }))?)
    }

    async fn create_token(&mut self, i: usize) -> anyhow::Result<()> {
        let slot = self.slots[i].clone();
        let object = self.token_object(&slot, &slot.token, slot.profile)?;
        let api = access_tokens(&self.client);
        let created = retry("create an AccessToken", async || {
            api.create(&PostParams::default(), &object).await
        })
        .await?;
        self.slots[i].uid = created.metadata.uid;
        self.slots[i].revoked = false;
        Ok(())
    }

    /// Deletes `name` and waits until it is gone; the moment the API acknowledged the delete.
    async fn delete_token(&self, name: &str) -> anyhow::Result<f64> {
        let api = access_tokens(&self.client);
        let acked = match retry("delete an AccessToken", async || {
            api.delete(name, &DeleteParams::default()).await
        })
        .await
        {
            Ok(_) => crate::now(),
            Err(e) if e.to_string().contains("404") || e.to_string().contains("not found") => {
                crate::now()
            }
            Err(e) => return Err(e),
        };
        for _ in 0..600 {
            if matches!(api.get_opt(name).await, Ok(None)) {
                return Ok(acked);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("AccessToken {name} was not deleted within a minute")
    }

    async fn merge(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        patch: Value,
    ) -> anyhow::Result<f64> {
        Ok(self.merge_sent(api, name, patch).await?.1)
    }

    /// [`Self::merge`], and when the write that succeeded was sent: what it changes may be
    /// seen by others from then on, before its answer arrives.
    async fn merge_sent(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        patch: Value,
    ) -> anyhow::Result<(f64, f64)> {
        let sent = std::cell::Cell::new(0.0);
        retry("patch", async || {
            sent.set(crate::now());
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
        })
        .await?;
        Ok((sent.get(), crate::now()))
    }

    /// One random operation.
    pub async fn step(&mut self) -> anyhow::Result<()> {
        let i = self.rng.random_range(0..self.slots.len());
        let slot = self.slots[i].clone();
        let tokens = access_tokens(&self.client);
        let uid = slot.uid.clone().unwrap_or_default();
        match self.rng.random_range(0..100) {
            // Revoke: every value of this object ends.
            0..=14 if !slot.revoked => self.revoke(i, &slot, &tokens, uid).await?,
            // Regenerate: a new value, the old one invalid once the status says so.
            15..=39 if !slot.revoked => self.regenerate(&slot, &tokens).await?,
            // Disable or re-enable a ServiceAccount.
            40..=54 if slot.service_account.is_some() => self.toggle_account(i, &slot).await?,
            // Delete and re-create the same name with a new profile.
            55..=79 => self.delete_and_recreate(i, &slot, uid).await?,
            // A second token for the same account: it must wait while the first is Active.
            80..=89 => match slot.second.clone() {
                None => self.create_second(i, &slot, &tokens).await?,
                Some(name) => self.delete_second(i, name, &tokens).await?,
            },
            _ => {}
        }
        Ok(())
    }

    /// Revokes slot `i`'s token (`uid`); the moment acknowledged ends its values.
    async fn revoke(
        &mut self,
        i: usize,
        slot: &Slot,
        tokens: &Api<DynamicObject>,
        uid: String,
    ) -> anyhow::Result<()> {
        let at = self
            .merge(tokens, &slot.token, json!({"spec": {"revoked": true}}))
            .await?;
        self.world.with(|w| {
            w.token_ended.entry(uid).or_insert((at, "revoked"));
        });
        self.slots[i].revoked = true;
        self.world.op("revoke");
        Ok(())
    }

    /// Asks for a new value of `slot`'s token.
    async fn regenerate(&self, slot: &Slot, tokens: &Api<DynamicObject>) -> anyhow::Result<()> {
        let stamp = format!("{}", crate::now());
        let patch = json!({"metadata": {"annotations": {"iam.witboost.com/regenerate-requested-at": stamp}}});
        self.merge(tokens, &slot.token, patch).await?;
        self.world.op("regenerate");
        Ok(())
    }

    /// Disables slot `i`'s ServiceAccount, or enables it again, and records when.
    async fn toggle_account(&mut self, i: usize, slot: &Slot) -> anyhow::Result<()> {
        let sa = slot.service_account.clone().unwrap_or_default();
        let disable = !slot.disabled;
        let (sent, acknowledged) = self
            .merge_sent(
                &service_accounts(&self.client),
                &sa,
                json!({"spec": {"disabled": disable}}),
            )
            .await?;
        let key = slot.account();
        // Disabled for sure once acknowledged; enabled again, possibly, once sent.
        self.world.with(|w| {
            let intervals = w.disabled.entry(key).or_default();
            if disable {
                intervals.push((acknowledged, None));
            } else if let Some(last) = intervals.last_mut() {
                last.1.get_or_insert(sent);
            }
        });
        self.slots[i].disabled = disable;
        self.world.op(if disable {
            "disable account"
        } else {
            "re-enable account"
        });
        Ok(())
    }

    /// Deletes slot `i`'s token (`uid`) and creates it again with a new random profile.
    async fn delete_and_recreate(
        &mut self,
        i: usize,
        slot: &Slot,
        uid: String,
    ) -> anyhow::Result<()> {
        let at = self.delete_token(&slot.token).await?;
        self.world.with(|w| {
            w.token_ended.entry(uid).or_insert((at, "deleted"));
        });
        self.slots[i].profile = random_profile(&mut self.rng);
        self.create_token(i).await?;
        self.world.op("delete and re-create");
        Ok(())
    }

    /// Creates a second, long-lived token for slot `i`'s account.
    async fn create_second(
        &mut self,
        i: usize,
        slot: &Slot,
        tokens: &Api<DynamicObject>,
    ) -> anyhow::Result<()> {
        let name = format!("{}-b", slot.token);
        let object = self.token_object(slot, &name, Profile::Long)?;
        let created = retry("create a second AccessToken", async || {
            tokens.create(&PostParams::default(), &object).await
        })
        .await?;
        let _ = created;
        self.slots[i].second = Some(name);
        self.world.op("second token for an account");
        Ok(())
    }

    /// Deletes slot `i`'s second token `name`; the moment acknowledged ends its values.
    async fn delete_second(
        &mut self,
        i: usize,
        name: String,
        tokens: &Api<DynamicObject>,
    ) -> anyhow::Result<()> {
        let second_uid = tokens
            .get_opt(&name)
            .await
            .ok()
            .flatten()
            .and_then(|t| t.metadata.uid);
        let at = self.delete_token(&name).await?;
        if let Some(uid) = second_uid {
            self.world.with(|w| {
                w.token_ended.entry(uid).or_insert((at, "deleted"));
            });
        }
        self.slots[i].second = None;
        self.world.op("delete a second token");
        Ok(())
    }

    /// Runs random operations at `rate` per second until `stop`.
    pub async fn run(&mut self, rate: f64, mut stop: Stop) -> anyhow::Result<()> {
        let period = Duration::from_secs_f64(1.0 / rate.max(0.1));
        while !stop.stopped() {
            // A write the API refused for a minute is given up, and the run goes on.
            if let Err(error) = self.step().await {
                eprintln!("soak: an operation was given up: {error:#}");
                self.world.op("given up (API refused for a minute)");
            }
            if stop.sleep(period).await {
                break;
            }
        }
        Ok(())
    }

    /// Brings the cluster to rest: every token that would keep changing (rotating, expiring,
    /// keeping a JWT, revoked, or a second one) is deleted, every account enabled. What stays
    /// are long-lived tokens, which a converged operator leaves alone.
    pub async fn quiesce(&mut self) -> anyhow::Result<BTreeMap<&'static str, u64>> {
        let mut done = BTreeMap::new();
        for i in 0..self.slots.len() {
            let slot = self.slots[i].clone();
            if let Some(name) = &slot.second {
                self.delete_token(name).await?;
                *done.entry("delete").or_default() += 1;
                self.slots[i].second = None;
            }
            if slot.disabled
                && let Some(sa) = &slot.service_account
            {
                let (sent, _) = self
                    .merge_sent(
                        &service_accounts(&self.client),
                        sa,
                        json!({"spec": {"disabled": false}}),
                    )
                    .await?;
                let key = slot.account();
                self.world.with(|w| {
                    if let Some(last) = w.disabled.get_mut(&key).and_then(|v| v.last_mut()) {
                        last.1.get_or_insert(sent);
                    }
                });
                self.slots[i].disabled = false;
                *done.entry("re-enable").or_default() += 1;
            }
            if slot.profile != Profile::Long || slot.jwt || slot.revoked {
                let at = self.delete_token(&slot.token).await?;
                let uid = slot.uid.clone().unwrap_or_default();
                self.world.with(|w| {
                    w.token_ended.entry(uid).or_insert((at, "deleted"));
                });
                *done.entry("delete").or_default() += 1;
            }
        }
        Ok(done)
    }

    /// The long-lived tokens that stay after `quiesce`.
    pub fn staying(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.profile == Profile::Long && !s.jwt && !s.revoked)
            .count()
    }
}
