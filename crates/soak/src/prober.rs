//! The probers: every token value the observer has seen is exchanged, again and again, at
//! every token service (`POST /api/auth/access-tokens/jwt`, as Witboost's clients call it),
//! until a while after it stopped being valid. An accepted exchange's JWT is verified with
//! the keys of that service's JWKS; one accepted after its value's end is late, by the time
//! since that end, and later than the invalidation bound is a violation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;

use crate::bounds::Bounds;
use crate::http::Http;
use crate::stop::Stop;
use crate::world::World;

/// How long after its end a value is still probed.
const PROBE_AFTER_END: f64 = 30.0;
/// Exchanges in flight at once.
const CONCURRENCY: usize = 8;

/// One token service: its URL and the JWKS last fetched from it.
struct Service {
    url: String,
    keys: tokio::sync::Mutex<JwkSet>,
    issuer: String,
}

pub async fn probe(services: Vec<String>, world: Arc<World>, bounds: Bounds, mut stop: Stop) {
    let http = Http::default();
    let mut known = Vec::new();
    for url in services {
        let issuer = match http
            .json(
                "GET",
                &format!("{url}/.well-known/openid-configuration"),
                None,
            )
            .await
        {
            Ok(config) => config["issuer"].as_str().unwrap_or_default().to_owned(),
            Err(e) => {
                world.violation(format!(
                    "the token service {url} has no OpenID configuration: {e}"
                ));
                return;
            }
        };
        known.push(Arc::new(Service {
            url,
            keys: tokio::sync::Mutex::new(JwkSet { keys: vec![] }),
            issuer,
        }));
    }
    while !stop.stopped() {
        let now = crate::now();
        let candidates: Vec<(String, String)> = world.with(|w| {
            w.values
                .iter()
                .filter(|(_, seen)| {
                    let ended = [
                        seen.replaced.map(|r| r.0),
                        w.token_ended.get(&seen.uid).map(|e| e.0),
                        seen.expires_at,
                    ]
                    .into_iter()
                    .flatten()
                    .fold(f64::INFINITY, f64::min);
                    now - ended < PROBE_AFTER_END
                })
                .map(|(digest, seen)| (digest.clone(), seen.value.clone()))
                .collect()
        });
        let mut jobs = Vec::new();
        for (digest, value) in candidates {
            for service in &known {
                let (http, world, bounds) = (http.clone(), world.clone(), bounds.clone());
                let (service, digest, value) = (service.clone(), digest.clone(), value.clone());
                jobs.push(async move {
                    exchange(&http, &service, &digest, &value, &world, &bounds).await
                });
            }
        }
        let mut pending = futures::stream::iter(jobs).buffer_unordered(CONCURRENCY);
        while pending.next().await.is_some() {}
        if stop.sleep(Duration::from_millis(250)).await {
            break;
        }
    }
}

async fn exchange(
    http: &Http,
    service: &Service,
    digest: &str,
    value: &str,
    world: &World,
    bounds: &Bounds,
) {
    let url = format!("{}/api/auth/access-tokens/jwt", service.url);
    let body = json!({ "access_token": value, "duration_seconds": 1 });
    let sent = crate::now();
    let answer = http.send("POST", &url, Some(&body)).await;
    let answered = crate::now();
    let bytes = match answer {
        Ok((200, bytes)) => bytes,
        Ok((400..=499, _)) => {
            world.with(|w| w.exchanges_refused += 1);
            return;
        }
        // A replica being killed or restarted, or its index stale (503): not an answer.
        _ => {
            world.with(|w| w.exchanges_failed += 1);
            return;
        }
    };
    world.with(|w| w.exchanges_accepted += 1);
    let jwt = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["jwt"].as_str().map(str::to_owned));
    match jwt {
        Some(jwt) => match verify(http, service, &jwt).await {
            Ok(()) => world.with(|w| w.jwts_verified += 1),
            Err(e) => world.violation(format!(
                "a JWT from {} does not verify with its JWKS: {e}",
                service.url
            )),
        },
        None => world.violation(format!(
            "an accepted exchange at {} has no jwt",
            service.url
        )),
    }
    let Some(ends) = world.ends(digest) else {
        return;
    };
    if let Some((late, kind)) = ends.lateness(sent, answered) {
        world.with(|w| {
            let worst = w.lateness.entry(kind).or_default();
            *worst = worst.max(late);
        });
        let bound = bounds.invalidation().as_secs_f64();
        // Expiry is decided to the second by the service's clock.
        let bound = if kind == "expired" {
            bound + 1.0
        } else {
            bound
        };
        if late > bound {
            let whose = world.with(|w| {
                let uid = w.values.get(digest).map(|seen| seen.uid.clone());
                let account = uid.as_ref().and_then(|uid| w.accounts.get(uid)).cloned();
                format!(
                    "AccessToken uid {} of {}",
                    uid.unwrap_or_default(),
                    account.unwrap_or_default()
                )
            });
            world.violation(format!(
                "{} accepted a value of {whose} {late:.1} s after it ended ({kind}; bound \
                 {bound:.1} s), sent at {sent:.3}",
                service.url
            ));
        }
    }
}

async fn verify(http: &Http, service: &Service, jwt: &str) -> anyhow::Result<()> {
    let header = jsonwebtoken::decode_header(jwt)?;
    let kid = header.kid.ok_or_else(|| anyhow::anyhow!("no kid"))?;
    let mut keys = service.keys.lock().await;
    if keys.find(&kid).is_none() {
        let fetched = http
            .json(
                "GET",
                &format!("{}/.well-known/jwks.json", service.url),
                None,
            )
            .await?;
        *keys = serde_json::from_value(fetched)?;
    }
    let jwk = keys
        .find(&kid)
        .ok_or_else(|| anyhow::anyhow!("kid {kid} is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk)?;
    let mut validation = Validation::new(header.alg);
    anyhow::ensure!(
        matches!(header.alg, Algorithm::ES256 | Algorithm::RS512),
        "unexpected algorithm {:?}",
        header.alg
    );
    validation.set_audience(&["witboost"]);
    validation.set_issuer(&[&service.issuer]);
    jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(jwt, &key, &validation)?;
    Ok(())
}
