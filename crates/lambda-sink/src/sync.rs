//! [`lock`]: a mutex guard that survives a poisoned lock.
//!
//! Every critical section in lambda-sink leaves its data consistent, so a
//! panic elsewhere (which poisons the mutex) does not make the data
//! unusable; refusing the lock would only turn one failure into many.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, also when a panic poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
