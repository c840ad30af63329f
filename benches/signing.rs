//! Micro-benchmark of the CPU cost of one JWT signature, single-threaded, to explain the exchange
//! benchmark: what `Policy::mint` costs per request, and how much of it is the signature itself.
//!
//! `cargo bench --bench signing -- [iterations]` (default 2000 per measure, RS512 a twentieth of
//! that; median of 5 rounds; the thread's CPU time, not wall-clock time).

use std::hint::black_box;
use std::time::{Duration, Instant};

use jsonwebtoken::{EncodingKey, Header};
use p256::ecdsa::signature::{RandomizedSigner, Signer};
use p256::pkcs8::DecodePrivateKey;
use witboost_token_operator::jwt::{
    Account, Algorithm, Grant, KeySet, LifetimeLimits, Policy, SigningKey, Source,
};

/// CPU time of this thread so far (`/proc/thread-self/schedstat`), so that other load on a shared
/// machine does not count; wall-clock time where that is not available.
fn thread_cpu(start: Instant) -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_else(|| start.elapsed())
}

/// Median CPU time per call in microseconds of `f`, over 5 rounds of `iterations` calls.
fn measure(iterations: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        f();
    }
    let epoch = Instant::now();
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let start = thread_cpu(epoch);
            for _ in 0..iterations {
                f();
            }
            (thread_cpu(epoch) - start).as_secs_f64() * 1e6 / f64::from(iterations)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn grant() -> Grant {
    Grant {
        account: Account {
            email: "bot@example.com".into(),
            groups: Some(vec!["platform".into()]),
            allowed_scopes: None,
        },
        source: Source {
            namespace: "default".into(),
            name: "ci".into(),
            uid: "8d0f4a52-3c1e-4b7a-9f26-0e5b7c1d2a43".into(),
            revision: 1,
        },
        expires_at: None,
    }
}

fn main() {
    let iterations: u32 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let policy = Policy {
        issuer: "http://127.0.0.1".into(),
        audience: witboost_token_operator::jwt::DEFAULT_AUDIENCE.into(),
        limits: LifetimeLimits::default(),
    };
    // A realistic signing input: the header and claims of a minted JWT.
    let message = {
        let keys = KeySet::new(SigningKey::generate(Algorithm::Es256).unwrap());
        let jwt = policy.mint(&keys, &grant(), None, None, 0).unwrap().jwt;
        jwt.rsplit_once('.').unwrap().0.to_owned()
    };
    println!(
        "signing input: {} bytes; CPU µs per call (median of 5 × {iterations})",
        message.len()
    );
    println!("| measure | µs |");
    println!("|---|---:|");
    let row = |name: &str, micros: f64| println!("| {name} | {micros:.1} |");

    for algorithm in [Algorithm::Es256, Algorithm::Rs512] {
        let rounds = if algorithm == Algorithm::Rs512 {
            iterations / 20
        } else {
            iterations
        }
        .max(10);
        let key = SigningKey::generate(algorithm).unwrap();
        let keys = KeySet::new(key.clone());
        let now = witboost_token_operator::jwt::now();
        row(
            &format!("{algorithm}: Policy::mint (claims, JSON, base64, signature)"),
            measure(rounds, || {
                black_box(policy.mint(&keys, &grant(), Some(300), None, now).unwrap());
            }),
        );
        let (encoding, jwt_alg) = match algorithm {
            Algorithm::Es256 => (
                EncodingKey::from_ec_pem(key.to_pem().as_bytes()).unwrap(),
                jsonwebtoken::Algorithm::ES256,
            ),
            Algorithm::Rs512 => (
                EncodingKey::from_rsa_pem(key.to_pem().as_bytes()).unwrap(),
                jsonwebtoken::Algorithm::RS512,
            ),
        };
        let claims = policy.mint(&keys, &grant(), None, None, 0).unwrap().claims;
        row(
            &format!("{algorithm}: jsonwebtoken::encode (parses the key on every call)"),
            measure(rounds, || {
                black_box(jsonwebtoken::encode(&Header::new(jwt_alg), &claims, &encoding).unwrap());
            }),
        );
        match algorithm {
            Algorithm::Es256 => {
                let parsed = p256::ecdsa::SigningKey::from_pkcs8_pem(key.to_pem()).unwrap();
                row(
                    "ES256: p256 signature only, key parsed once",
                    measure(rounds, || {
                        let signature: p256::ecdsa::Signature = parsed.sign(message.as_bytes());
                        black_box(signature);
                    }),
                );
                let secret = p256::SecretKey::from_pkcs8_pem(key.to_pem()).unwrap();
                let rng = ring::rand::SystemRandom::new();
                let ring_key = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &secret.to_bytes(),
                    &secret.public_key().to_sec1_bytes(),
                    &rng,
                )
                .unwrap();
                row(
                    "ES256: ring signature only, key parsed once",
                    measure(rounds, || {
                        black_box(ring_key.sign(&rng, message.as_bytes()).unwrap());
                    }),
                );
                row(
                    "ES256: parse the PKCS#8 key only",
                    measure(rounds, || {
                        black_box(p256::ecdsa::SigningKey::from_pkcs8_pem(key.to_pem()).unwrap());
                    }),
                );
            }
            Algorithm::Rs512 => {
                use rsa::pkcs8::DecodePrivateKey as _;
                let parsed = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha512>::new(
                    rsa::PrivateKey::from_pkcs8_pem(key.to_pem()).unwrap(),
                );
                row(
                    "RS512: rsa signature only (blinded), key parsed once",
                    measure(rounds, || {
                        let signature: rsa::pkcs1v15::Signature =
                            parsed.sign_with_rng(&mut rand::rng(), message.as_bytes());
                        black_box(signature);
                    }),
                );
            }
        }
    }
}
