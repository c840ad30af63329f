//! Values a TokenPolicy refused while they were Active: refused for good.
//!
//! Step 3, beside validate: when a policy, a namespace's labels, a ServiceAccount or the token
//! itself changes so that a token shown Active is no longer allowed, its current revision is
//! noted here at once, from the watch, before any reconcile ([`super::follow::judge_refusal`]). A policy tightened and loosened
//! again before the token's reconcile runs would otherwise leave it holding the same value,
//! which the token service (that judged it refused meanwhile) refuses for good: the reconcile
//! issues a new value instead ([`super::model::Issue::AllowedAgain`]). Kept in memory, like the
//! token service's own record of the same refusals.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sync::Recover;

/// AccessToken uid → the revision whose value a policy refused.
#[derive(Debug, Default)]
pub struct RefusedValues {
    by_uid: Mutex<HashMap<String, i64>>,
}

impl RefusedValues {
    /// The revision of the token with this uid that a policy refused, if any.
    pub fn revision(&self, uid: &str) -> Option<i64> {
        self.by_uid.lock().recover().get(uid).copied()
    }

    /// The token with this uid left the cluster.
    pub fn forget(&self, uid: &str) {
        self.by_uid.lock().recover().remove(uid);
    }

    /// Notes the revision of the token with this uid refused.
    pub fn refuse(&self, uid: &str, revision: i64) {
        self.by_uid
            .lock()
            .recover()
            .insert(uid.to_owned(), revision);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_kept_per_token_until_it_leaves() {
        let refused = RefusedValues::default();
        assert_eq!(refused.revision("a"), None);
        refused.refuse("a", 3);
        refused.refuse("b", 1);
        assert_eq!(refused.revision("a"), Some(3));
        refused.forget("a");
        assert_eq!(refused.revision("a"), None);
        assert_eq!(refused.revision("b"), Some(1));
    }
}
