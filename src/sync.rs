//! Lock poisoning, the project's one policy: a lock whose holder panicked is taken anyway, and
//! the data is used as that holder left it.
//!
//! Every critical section in this crate keeps its data consistent step by step (single map
//! inserts and removals, counters, a look-up that checks what it finds), so what a panic leaves
//! behind is still usable; and a poisoned lock that made every later caller panic would turn one
//! bug into an outage that `/livez` does not see.

use std::sync::{LockResult, PoisonError};

/// Takes the guard of a lock whether or not it is poisoned: `mutex.lock().recover()`.
pub trait Recover<G> {
    fn recover(self) -> G;
}

impl<G> Recover<G> for LockResult<G> {
    fn recover(self) -> G {
        self.unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, RwLock};

    use super::Recover;

    #[test]
    fn a_poisoned_lock_is_taken_with_what_its_holder_left() {
        let counter = Mutex::new(1);
        let map = RwLock::new(vec![1]);
        let _ = std::panic::catch_unwind(|| {
            let mut n = counter.lock().unwrap();
            let mut v = map.write().unwrap();
            *n = 2;
            v.push(2);
            panic!("a holder panics");
        });
        assert!(counter.is_poisoned() && map.is_poisoned());
        assert_eq!(*counter.lock().recover(), 2);
        assert_eq!(*map.read().recover(), [1, 2]);
        map.write().recover().push(3);
        assert_eq!(*map.read().recover(), [1, 2, 3]);
    }
}
