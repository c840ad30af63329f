//! Signing keys: generation (ES256 on P-256, RS512 on RSA-2048), PEM import and export, the `kid`
//! (RFC 7638 thumbprint), signing, and the key set of one current key plus previous keys that
//! stay published until the JWTs they signed have expired.
//!
//! A key is parsed once, when it is loaded, and signs every JWT from then on: parsing costs more
//! than the signature itself (it derives the public key, a full scalar multiplication), and
//! `jsonwebtoken::encode` would repeat it on every call because it only takes key bytes. So the
//! compact JWS is assembled here, with ring (already the TLS provider) doing the signature; its
//! P-256 is several times faster than the pure-Rust one (`benches/signing.rs`).
//! Verification stays with `jsonwebtoken`.

use std::{fmt, str::FromStr, sync::Arc};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    DecodingKey, EncodingKey, Header,
    jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash},
};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA512, RsaKeyPair},
};
use serde::{Deserialize, Serialize};

/// The JWT signing algorithms Witboost Computational Governance accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256.
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-512, 2048-bit keys.
    #[serde(rename = "RS512")]
    Rs512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs512 => "RS512",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "ES256" => Ok(Self::Es256),
            "RS512" => Ok(Self::Rs512),
            _ => Err(format!("unsupported algorithm {s:?} (use ES256 or RS512)")),
        }
    }
}

impl From<Algorithm> for jsonwebtoken::Algorithm {
    fn from(alg: Algorithm) -> Self {
        match alg {
            Algorithm::Es256 => Self::ES256,
            Algorithm::Rs512 => Self::RS512,
        }
    }
}

/// Why key material could not be used. Never contains key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("failed to generate a signing key")]
    Generate,
    #[error("failed to read the signing key: not a PKCS#8 PEM key of a supported type")]
    Pem,
    #[error("failed to derive the public key")]
    Public(#[source] jsonwebtoken::errors::Error),
    #[error("failed to read a previous public key")]
    PreviousKey,
}

/// Why a JWT could not be signed. Never contains key bytes or claims.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("failed to serialize the claims")]
    Claims(#[source] serde_json::Error),
    #[error("failed to compute the signature")]
    Signature,
}

/// A public key that verifies JWTs, with its `kid` and algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub jwk: Jwk,
    pub decoding: DecodingKey,
}

/// The private key, parsed and ready to sign.
enum Signer {
    Es256(EcdsaKeyPair),
    Rs512(RsaKeyPair),
}

/// A private signing key. `Debug` never shows it; [`SigningKey::to_pem`] is for the key Secret only.
#[derive(Clone)]
pub struct SigningKey {
    pem: String,
    signer: Arc<Signer>,
    rng: SystemRandom,
    /// The base64url JOSE header (`typ`, `alg`, `kid`): the same for every JWT this key signs.
    header: String,
    public: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .field("algorithm", &self.public.algorithm)
            .field("private", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate(algorithm: Algorithm) -> Result<Self, KeyError> {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let pem = match algorithm {
            Algorithm::Es256 => {
                use p256::elliptic_curve::Generate;
                p256::SecretKey::generate_from_rng(&mut rand::rng())
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|_| KeyError::Generate)?
                    .to_string()
            }
            Algorithm::Rs512 => rsa::PrivateKey::new(&mut rand::rng(), 2048)
                .map_err(|_| KeyError::Generate)?
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|_| KeyError::Generate)?
                .to_string(),
        };
        Self::from_pem(&pem)
    }

    /// Reads a PKCS#8 PEM private key; the algorithm follows from the key type
    /// (P-256 → ES256, RSA → RS512).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (algorithm, encoding) = if let Ok(key) = EncodingKey::from_ec_pem(pem.as_bytes()) {
            (Algorithm::Es256, key)
        } else if let Ok(key) = EncodingKey::from_rsa_pem(pem.as_bytes()) {
            (Algorithm::Rs512, key)
        } else {
            return Err(KeyError::Pem);
        };
        let jwk = Jwk::from_encoding_key(&encoding, algorithm.into()).map_err(|error| {
            // The EC parser accepts any curve's PEM; a non-P-256 key only fails here.
            match error.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
                | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat => KeyError::Pem,
                _ => KeyError::Public(error),
            }
        })?;
        let public = VerifyingKey::from_jwk(jwk).map_err(|_| KeyError::Pem)?;
        if public.algorithm != algorithm {
            return Err(KeyError::Pem);
        }
        let rng = SystemRandom::new();
        let signer = match algorithm {
            Algorithm::Es256 => {
                use p256::pkcs8::DecodePrivateKey;
                let secret = p256::SecretKey::from_pkcs8_der(encoding.as_bytes())
                    .map_err(|_| KeyError::Pem)?;
                // ring checks that the two halves belong together.
                EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &secret.to_bytes(),
                    &secret.public_key().to_sec1_bytes(),
                    &rng,
                )
                .map(Signer::Es256)
            }
            // `EncodingKey` holds an RSA key as PKCS#1 DER whichever PEM it came from.
            Algorithm::Rs512 => RsaKeyPair::from_der(encoding.as_bytes()).map(Signer::Rs512),
        }
        .map_err(|_| KeyError::Pem)?;
        let mut header = Header::new(algorithm.into());
        header.kid = Some(public.kid.clone());
        header.typ = Some("JWT".to_owned());
        let header =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("headers serialize"));
        Ok(Self {
            pem: pem.to_owned(),
            signer: Arc::new(signer),
            rng,
            header,
            public,
        })
    }

    /// A compact JWS (RFC 7515 §7.1) of `claims`: this key's header, the claims, the signature.
    pub fn sign_jwt<T: Serialize>(&self, claims: &T) -> Result<String, SignError> {
        // Sized for our claims, so serializing them does not grow the buffer.
        let mut payload = Vec::with_capacity(512);
        serde_json::to_writer(&mut payload, claims).map_err(SignError::Claims)?;
        let mut jwt = String::with_capacity(
            self.header.len()
                + 2
                + payload.len().div_ceil(3) * 4
                + self.signature_len().div_ceil(3) * 4,
        );
        jwt.push_str(&self.header);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jwt);
        self.sign_and_append(&mut jwt)?;
        Ok(jwt)
    }

    /// Appends `.` and the base64url JWS signature of `jwt` (the signing input): `r‖s` for
    /// ES256, PKCS#1 v1.5 for RS512.
    fn sign_and_append(&self, jwt: &mut String) -> Result<(), SignError> {
        match &*self.signer {
            Signer::Es256(key) => {
                let signature = key
                    .sign(&self.rng, jwt.as_bytes())
                    .map_err(|_| SignError::Signature)?;
                jwt.push('.');
                URL_SAFE_NO_PAD.encode_string(signature.as_ref(), jwt);
            }
            Signer::Rs512(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(&RSA_PKCS1_SHA512, &self.rng, jwt.as_bytes(), &mut signature)
                    .map_err(|_| SignError::Signature)?;
                jwt.push('.');
                URL_SAFE_NO_PAD.encode_string(&signature, jwt);
            }
        }
        Ok(())
    }

    fn signature_len(&self) -> usize {
        match &*self.signer {
            Signer::Es256(_) => 64,
            Signer::Rs512(key) => key.public().modulus_len(),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm
    }

    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// The private key as PKCS#8 PEM, to store in the key Secret and nowhere else.
    pub fn to_pem(&self) -> &str {
        &self.pem
    }
}

impl VerifyingKey {
    /// A verifying key from a public JWK; its `kid` is recomputed as the RFC 7638 thumbprint,
    /// so a `kid` never disagrees with its key.
    pub fn from_jwk(mut jwk: Jwk) -> Result<Self, KeyError> {
        let algorithm = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(p)
                if p.curve == jsonwebtoken::jwk::EllipticCurve::P256 =>
            {
                Algorithm::Es256
            }
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::Rs512,
            _ => return Err(KeyError::PreviousKey),
        };
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| KeyError::PreviousKey)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.key_algorithm = Some(jsonwebtoken::Algorithm::from(algorithm).into());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| KeyError::PreviousKey)?;
        Ok(Self {
            kid,
            algorithm,
            jwk,
            decoding,
        })
    }
}

/// A key that signed JWTs before the last rotation; published until `retire_at` (Unix seconds),
/// when every JWT it signed has expired.
#[derive(Clone)]
pub struct PreviousKey {
    pub key: VerifyingKey,
    pub retire_at: i64,
}

/// The keys in force: one current key that signs, previous keys that still verify, and the
/// next key of a planned rotation, published before it signs anything.
#[derive(Clone, Debug)]
pub struct KeySet {
    current: SigningKey,
    previous: Vec<PreviousKey>,
    next: Option<NextKey>,
}

/// The key a planned rotation makes current at `activates_at` (Unix seconds); published in the
/// JWKS from the moment it is planned, so that a verifier's cached JWKS already holds it when
/// it starts signing.
#[derive(Clone, Debug)]
pub struct NextKey {
    pub key: SigningKey,
    pub activates_at: i64,
}

impl fmt::Debug for PreviousKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreviousKey")
            .field("kid", &self.key.kid)
            .field("retire_at", &self.retire_at)
            .finish()
    }
}

/// The stored form of a previous key (in the key Secret's `previous-keys.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredPreviousKey {
    jwk: Jwk,
    retire_at: i64,
}

impl KeySet {
    pub fn new(current: SigningKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
            next: None,
        }
    }

    /// Restores a key set from its stored form: the current key's PEM and the JSON list of
    /// previous public keys ([`KeySet::previous_to_json`]).
    pub fn from_stored(current_pem: &str, previous_json: Option<&str>) -> Result<Self, KeyError> {
        let current = SigningKey::from_pem(current_pem)?;
        let stored: Vec<StoredPreviousKey> = match previous_json {
            Some(json) if !json.trim().is_empty() => {
                serde_json::from_str(json).map_err(|_| KeyError::PreviousKey)?
            }
            _ => Vec::new(),
        };
        let previous = stored
            .into_iter()
            .map(|p| {
                Ok(PreviousKey {
                    key: VerifyingKey::from_jwk(p.jwk)?,
                    retire_at: p.retire_at,
                })
            })
            .collect::<Result<_, KeyError>>()?;
        Ok(Self {
            current,
            previous,
            next: None,
        })
    }

    /// The previous keys as stored in the key Secret.
    pub fn previous_to_json(&self) -> String {
        let stored: Vec<StoredPreviousKey> = self
            .previous
            .iter()
            .map(|p| StoredPreviousKey {
                jwk: p.key.jwk.clone(),
                retire_at: p.retire_at,
            })
            .collect();
        serde_json::to_string(&stored).expect("JWKs serialize")
    }

    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    pub fn previous(&self) -> &[PreviousKey] {
        &self.previous
    }

    /// The next key of a planned rotation, if one is planned.
    pub fn next(&self) -> Option<&NextKey> {
        self.next.as_ref()
    }

    /// Plans a rotation: `next` is published now and becomes current at `activates_at`
    /// ([`Self::promote_due`]).
    pub fn plan(&mut self, next: SigningKey, activates_at: i64) {
        self.next = Some(NextKey {
            key: next,
            activates_at,
        });
    }

    /// Makes the planned next key current if its time has come; whether it did.
    pub fn promote_due(&mut self, now: i64, retire_at: i64) -> bool {
        match self.next.take() {
            Some(next) if next.activates_at <= now => {
                self.rotate(next.key, now, retire_at);
                true
            }
            other => {
                self.next = other;
                false
            }
        }
    }

    /// Makes `next` the current key. The old current key stays published until `retire_at`
    /// (Unix seconds: now plus the longest JWT lifetime); keys already retired at `now` go.
    pub fn rotate(&mut self, next: SigningKey, now: i64, retire_at: i64) {
        // An immediate rotation replaces any planned one.
        self.next = None;
        let old = std::mem::replace(&mut self.current, next);
        self.previous.retain(|p| p.retire_at > now);
        if old.kid() != self.current.kid() {
            self.previous.push(PreviousKey {
                key: old.public,
                retire_at,
            });
        }
    }

    /// The key with this `kid` that may verify at `now`.
    pub fn find(&self, kid: &str, now: i64) -> Option<&VerifyingKey> {
        if self.current.kid() == kid {
            return Some(&self.current.public);
        }
        if let Some(next) = self.next.as_ref().filter(|n| n.key.kid() == kid) {
            return Some(&next.key.public);
        }
        self.previous
            .iter()
            .find(|p| p.key.kid == kid && p.retire_at > now)
            .map(|p| &p.key)
    }

    /// The JWKS document: the current key first, then the planned next key, then previous keys
    /// not yet retired at `now`.
    pub fn jwks(&self, now: i64) -> JwkSet {
        let mut keys = vec![self.current.public.jwk.clone()];
        keys.extend(self.next.iter().map(|n| n.key.public.jwk.clone()));
        keys.extend(
            self.previous
                .iter()
                .filter(|p| p.retire_at > now)
                .map(|p| p.key.jwk.clone()),
        );
        JwkSet { keys }
    }
}
