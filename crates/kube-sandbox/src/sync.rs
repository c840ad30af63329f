//! Lock poisoning: a lock whose holder panicked is taken anyway. Every critical section of the
//! server changes its data one consistent step at a time, so what a panic leaves behind is still
//! usable, and one panicking request must not fail every later one.

use std::sync::{LockResult, PoisonError};

/// `lock().recover()`: the guard, poisoned or not.
pub(crate) trait Recover<G> {
    fn recover(self) -> G;
}

impl<G> Recover<G> for LockResult<G> {
    fn recover(self) -> G {
        self.unwrap_or_else(PoisonError::into_inner)
    }
}
