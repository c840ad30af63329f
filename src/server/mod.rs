//! The token service: Witboost's JWT exchange, Basic → Bearer forward-auth, JWKS and OpenID
//! discovery, and RFC 7662 introspection, over HTTP or HTTPS.
//!
//! Look-ups never call the API server: an in-memory [`MemoryIndex`], fed by the process's
//! watches of AccessTokens and ServiceAccounts ([`feed`]; shared with the controllers when they
//! run in the same process, its own, without caches, when it runs apart), answers them; with `--policy-required`, it
//! also follows the TokenPolicies and namespaces' labels and refuses a token they deny. The signing keys live in a Secret
//! ([`keystore`]), which the controllers' side owns; a token service running apart only reads it
//! ([`KeyAccess::Reader`]). The JWT rules themselves are in [`crate::jwt`].
//!
//! Connections are accepted with limits against slow and idle clients ([`listen`]), which the
//! admin server shares. Forward auth reuses the JWTs it mints while they are young ([`cache`]).
//!
//! More of the service, one file each:
//! - the endpoints ([`routes`]) also exchange a JWT of ours for a session token, narrowed to
//!   the presented JWT's scopes and lifetime;
//! - a relist gathers the index's entries, not whole objects ([`feed`]), and a changed token or
//!   account drops its JWTs from the forward-auth cache;
//! - [`freshness`] times each watch's failures: past `--index-staleness-bound` look-ups answer
//!   503 and `/readyz` reports not ready;
//! - [`parse`] reads the `Authorization` header and the request bodies, plain functions that the
//!   property tests try with any input;
//! - [`tls`] serves the certificate from its files, read again when they change.
//!
//! The endpoints and their contract: `docs/token-service.md`.
//!
//! ```no_run
//! # async fn demo(client: kube::Client, args: witboost_token_operator::server::TokenServiceArgs) -> anyhow::Result<()> {
//! use witboost_token_operator::server::{Metrics, TokenService};
//! let mut registry = prometheus_client::registry::Registry::default();
//! let metrics = Metrics::register(&mut registry);
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let service = TokenService::start(args, client, metrics).await?;
//! service.run(shutdown).await?;
//! # Ok(()) }
//! ```

pub mod cache;
mod error;
pub mod feed;
pub mod freshness;
mod index;
pub mod keystore;
pub mod listen;
mod metrics;
pub mod parse;
pub mod routes;
pub mod tls;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context as _;
use axum::Router;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

pub use cache::JwtCache;
pub use error::ApiError;
pub use freshness::Freshness;
pub use index::{MemoryIndex, TokenIndex};
pub use keystore::{KeyAccess, KeyPolicy};
pub use listen::ConnectionLimits;
pub use metrics::Metrics;
pub use routes::{AppState, router, router_with};

pub use crate::jwt::Keys;

use crate::jwt::{Algorithm, DEFAULT_AUDIENCE, Issuer, LifetimeLimits, Policy};
use crate::token::RecordKey;

/// Where `run`'s token service listens unless `--http-addr` says otherwise.
pub const DEFAULT_HTTP_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    8080,
));

/// Options of the token service, flattened into the `run` and `sandbox` commands.
#[derive(clap::Args, Clone, Debug)]
pub struct TokenServiceArgs {
    /// Address the token service listens on [default: 0.0.0.0:8080; in `sandbox`, 127.0.0.1 on
    /// a free port].
    #[arg(long, env = "WITBOOST_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,

    /// PEM certificate chain; with --tls-key-file the service speaks HTTPS only.
    #[arg(long, env = "WITBOOST_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of the certificate.
    #[arg(long, env = "WITBOOST_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,

    /// JWT signing algorithm: ES256 (ECDSA P-256) or RS512 (RSA 2048, SHA-512). Changing it
    /// rotates the signing key.
    #[arg(long, env = "WITBOOST_JWT_ALGORITHM", default_value = "ES256")]
    pub jwt_algorithm: Algorithm,

    /// The `iss` claim and the discovery issuer: the URL clients reach the service at.
    /// Default: `http(s)://<listen address>`.
    #[arg(long, env = "WITBOOST_ISSUER")]
    pub issuer: Option<String>,

    /// The `aud` claim of every JWT, and the only audience the service accepts back.
    #[arg(long, env = "WITBOOST_AUDIENCE", default_value = DEFAULT_AUDIENCE,
          value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub audience: String,

    /// Lifetime in seconds of JWTs when the request names none.
    #[arg(long, env = "WITBOOST_DEFAULT_JWT_DURATION", default_value_t = 300,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub default_jwt_duration: i64,

    /// Longest JWT lifetime in seconds a request may ask for; previous signing keys stay
    /// published this long after a rotation.
    #[arg(long, env = "WITBOOST_MAX_JWT_DURATION", default_value_t = 86_400,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub max_jwt_duration: i64,

    /// Name of the Secret holding the signing keys (created if absent).
    #[arg(
        long,
        env = "WITBOOST_SIGNING_KEY_SECRET",
        default_value = "witboost-token-service-signing-key"
    )]
    pub signing_key_secret: String,

    /// Namespace of the signing key Secret. Default: $POD_NAMESPACE, else the client's namespace.
    #[arg(long, env = "WITBOOST_SIGNING_KEY_NAMESPACE")]
    pub signing_key_namespace: Option<String>,

    /// JWTs forward auth keeps for reuse (about 1 KiB each); 0 mints one per request.
    #[arg(long, env = "WITBOOST_FORWARD_AUTH_CACHE_SIZE", default_value_t = JwtCache::DEFAULT_CAPACITY)]
    pub forward_auth_cache_size: usize,

    /// How long a watch feeding the token index may fail before the replica stops trusting the
    /// index: it then reports not ready and answers look-ups with 503 until the watch
    /// recovers (e.g. 60s).
    #[arg(long, env = "WITBOOST_INDEX_STALENESS_BOUND", default_value = "60s",
          value_parser = listen::parse_duration)]
    pub index_staleness_bound: std::time::Duration,

    /// In a planned rotation (annotation iam.witboost.com/planned-rotation-requested-at on the
    /// key Secret), how long the next key is published in the JWKS before it signs: longer than
    /// the verifiers' JWKS caches keep a document (e.g. 15m).
    #[arg(long, env = "WITBOOST_KEY_PUBLISH_AHEAD", default_value = "15m",
          value_parser = listen::parse_duration)]
    pub key_publish_ahead: std::time::Duration,

    /// Connection limits, applied to the token service and the admin server alike.
    #[command(flatten)]
    pub connections: ConnectionLimits,

    /// The one namespace whose AccessTokens and ServiceAccounts the service answers for (all
    /// when unset). Not a flag of its own: `run` passes its `--namespace`, so the service needs
    /// no right outside the namespace the operator is limited to.
    #[arg(skip)]
    pub namespace: Option<String>,

    /// Whether a token must be allowed by a TokenPolicy to be accepted, as the controllers
    /// require it to be issued. Not a flag of its own: `run` passes its `--policy-required`,
    /// so a token service running apart refuses a token a tightened policy denies at once.
    #[arg(skip)]
    pub policy_required: bool,

    /// Whether this process creates and rotates the key Secret or only reads it. Not a flag of
    /// its own: `run` makes the controllers' side the owner (`--components`).
    #[arg(skip)]
    pub key_access: KeyAccess,

    /// For an owner: whether this replica leads (its controllers run), the only one that
    /// rotates the keys; `None` rotates whenever a rotation is due. Set by `run`.
    #[arg(skip)]
    pub leading: Option<tokio::sync::watch::Receiver<bool>>,
}

impl TokenServiceArgs {
    /// The arguments with every default, listening on `http_addr`.
    pub fn on(http_addr: SocketAddr) -> Self {
        Self {
            http_addr: Some(http_addr),
            tls_cert_file: None,
            tls_key_file: None,
            jwt_algorithm: Algorithm::Es256,
            issuer: None,
            audience: DEFAULT_AUDIENCE.into(),
            default_jwt_duration: 300,
            max_jwt_duration: 86_400,
            signing_key_secret: "witboost-token-service-signing-key".into(),
            signing_key_namespace: None,
            forward_auth_cache_size: JwtCache::DEFAULT_CAPACITY,
            index_staleness_bound: freshness::DEFAULT_STALENESS_BOUND,
            key_publish_ahead: std::time::Duration::from_secs(900),
            connections: ConnectionLimits::default(),
            namespace: None,
            policy_required: false,
            key_access: KeyAccess::Owner,
            leading: None,
        }
    }

    /// The JWT policy: issuer, audience and lifetimes. The issuer defaults to the address the
    /// service listens at (`addr`).
    pub fn policy(&self, addr: SocketAddr) -> Policy {
        let scheme = if self.tls_cert_file.is_some() {
            "https"
        } else {
            "http"
        };
        Policy {
            issuer: self
                .issuer
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{addr}")),
            audience: self.audience.clone(),
            limits: LifetimeLimits {
                default: self.default_jwt_duration,
                max: self.max_jwt_duration,
            },
        }
    }
}

/// The signing keys from their Secret, followed until dropped; the record key too for the
/// Secret's owner (a reader never holds it).
pub struct SigningKeys {
    pub keys: Keys,
    pub record_key: Option<RecordKey>,
    _follow: AbortOnDropHandle<()>,
}

impl SigningKeys {
    /// Loads the key Secret (its owner creates it if absent, or rotates it if due; a reader waits
    /// for it) and follows it from then on.
    pub async fn start(args: &TokenServiceArgs, client: &kube::Client) -> anyhow::Result<Self> {
        let namespace = args
            .signing_key_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        let key_policy = KeyPolicy {
            algorithm: args.jwt_algorithm,
            retention: args.max_jwt_duration + 60,
            publish_ahead: i64::try_from(args.key_publish_ahead.as_secs()).unwrap_or(i64::MAX),
        };
        let name = &args.signing_key_secret;
        let failed = || format!("failed to load the signing key secret {namespace}/{name}");
        let (keys, record_key) = match args.key_access {
            KeyAccess::Owner => {
                let stored = keystore::load_or_create(&secrets, name, &key_policy)
                    .await
                    .with_context(failed)?;
                (stored.keys, Some(stored.record_key))
            }
            KeyAccess::Reader => {
                let keys = keystore::load(&secrets, name, &key_policy)
                    .await
                    .with_context(failed)?;
                (keys, None)
            }
        };
        let keys = Keys::new(keys);
        let follow = AbortOnDropHandle::new(tokio::spawn(keystore::follow(
            secrets,
            name.clone(),
            key_policy,
            keys.clone(),
            args.key_access,
            args.leading.clone(),
        )));
        Ok(Self {
            keys,
            record_key,
            _follow: follow,
        })
    }
}

/// A token service that is ready: keys loaded, index synced, listener bound.
pub struct TokenService {
    addr: SocketAddr,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: ConnectionLimits,
    /// The index's watches, and the TLS files' follower: they end when the service is dropped,
    /// so a start that fails half-way leaves nothing running.
    tasks: Vec<AbortOnDropHandle<()>>,
    /// The key Secret's watch.
    signing: SigningKeys,
    issuer: Issuer,
    record_key: Option<RecordKey>,
    freshness: Freshness,
}

impl TokenService {
    /// Loads the signing keys (creating them, as their owner, or waiting for them, as a
    /// reader), starts the watches and waits for their first listing, and binds the listener.
    /// Nothing is served until [`TokenService::run`].
    pub async fn start(
        args: TokenServiceArgs,
        client: kube::Client,
        metrics: Metrics,
    ) -> anyhow::Result<Self> {
        Self::start_on(args, client, metrics, None).await
    }

    /// As [`TokenService::start`], its index fed by `watches` (the process's, shared with the
    /// controllers), or by watches of its own (that keep no cache) when `None`.
    pub async fn start_on(
        args: TokenServiceArgs,
        client: kube::Client,
        metrics: Metrics,
        watches: Option<crate::watching::Watches>,
    ) -> anyhow::Result<Self> {
        let mut tasks = vec![];
        let tls = match (&args.tls_cert_file, &args.tls_key_file) {
            (Some(cert), Some(key)) => {
                let (acceptor, certificates) = tls::acceptor(cert, key)?;
                tasks.push(AbortOnDropHandle::new(tokio::spawn(tls::follow(
                    certificates,
                ))));
                Some(acceptor)
            }
            _ => None,
        };
        let signing = SigningKeys::start(&args, &client).await?;
        let (keys, record_key) = (signing.keys.clone(), signing.record_key.clone());

        let mut index = MemoryIndex::with_jwt_cache(args.forward_auth_cache_size)
            .with_staleness_bound(args.index_staleness_bound);
        if args.policy_required {
            index = index.with_policy_required();
        }
        let index = Arc::new(index);
        let freshness = index.freshness().clone();
        let watches = watches.unwrap_or_else(|| {
            crate::watching::Watches::new(
                &client,
                args.namespace.as_deref(),
                args.policy_required,
                false,
            )
        });
        let (mut ready, feed) = feed::spawn(&watches, index.clone());
        tasks.push(feed);
        ready
            .wait_for(|ready| *ready)
            .await
            .context("the token index watches stopped")?;

        let http_addr = args.http_addr.unwrap_or(DEFAULT_HTTP_ADDR);
        let listener = TcpListener::bind(http_addr).await.with_context(|| {
            format!("failed to bind {http_addr} for the token service (--http-addr moves it)")
        })?;
        let addr = listener.local_addr()?;
        let policy = args.policy(addr);
        let issuer = Issuer {
            policy: Arc::new(policy),
            keys,
        };
        let router = router_with(
            AppState {
                policy: issuer.policy.clone(),
                keys: issuer.keys.clone(),
                index,
                metrics,
            },
            args.connections.request_timeout,
        );
        tracing::info!(%addr, tls = tls.is_some(), "token service listening");
        Ok(Self {
            addr,
            listener,
            tls,
            router,
            limits: args.connections,
            tasks,
            signing,
            issuer,
            record_key,
            freshness,
        })
    }

    /// The service's policy and live keys, for others in the process that mint JWTs (the
    /// controller's `spec.jwt`).
    pub fn issuer(&self) -> Issuer {
        self.issuer.clone()
    }

    /// The key the controllers authenticate the records beside tokens with, from the same
    /// Secret as the signing keys; only the Secret's owner holds it.
    pub fn record_key(&self) -> Option<RecordKey> {
        self.record_key.clone()
    }

    /// Whether the index still follows the API server, for the admin server's `/readyz`.
    pub fn freshness(&self) -> Freshness {
        self.freshness.clone()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` is cancelled, then stops the watches.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        listen::serve(self.listener, self.tls, self.router, self.limits, shutdown).await;
        drop(self.tasks);
        drop(self.signing);
        Ok(())
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
