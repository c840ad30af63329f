//! The live signing keys and the policy, shared by everyone in the process who mints or
//! verifies: the HTTP service and the controller that keeps JWTs in Secrets.

use std::fmt;
use std::sync::{Arc, RwLock};

use super::{Claims, Grant, KeySet, MintError, Minted, Policy, VerifyError};

use crate::sync::Recover;

/// The key set in force; replaced whole when the key Secret changes.
#[derive(Clone)]
pub struct Keys(Arc<RwLock<Arc<KeySet>>>);

impl Keys {
    pub fn new(keys: KeySet) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(keys))))
    }

    pub fn load(&self) -> Arc<KeySet> {
        // A poisoned lock is recovered (the project's policy, `crate::sync`): the
        // key set is replaced whole, so it is never half-written.
        self.0.read().recover().clone()
    }

    pub fn store(&self, keys: KeySet) {
        *self.0.write().recover() = Arc::new(keys);
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("current", &self.load().current().kid())
            .finish_non_exhaustive()
    }
}

/// Mints and verifies JWTs the way the token service does, with its live keys.
#[derive(Clone, Debug)]
pub struct Issuer {
    pub policy: Arc<Policy>,
    pub keys: Keys,
}

impl Issuer {
    pub fn new(policy: Policy, keys: KeySet) -> Self {
        Self {
            policy: Arc::new(policy),
            keys: Keys::new(keys),
        }
    }

    /// [`Policy::mint`] with the current key.
    pub fn mint(
        &self,
        grant: &Grant,
        duration_seconds: Option<i64>,
        scope: Option<&str>,
        now: i64,
    ) -> Result<Minted, MintError> {
        self.policy
            .mint(&self.keys.load(), grant, duration_seconds, scope, now)
    }

    /// [`Policy::verify`] against the current and previous keys.
    pub fn verify(&self, jwt: &str, now: i64) -> Result<Claims, VerifyError> {
        self.policy.verify(&self.keys.load(), jwt, now)
    }
}
