//! Signature work of large messages off the async workers: on the blocking pool, a few jobs at
//! a time, each within a deadline, so that a costly message holds no request worker and cannot
//! hold one for long. A small message's work is done where it arrives.

use std::sync::Arc;
use std::time::Duration;

/// How long the signature work of one message may take, waiting for a slot included.
pub const DEADLINE: Duration = Duration::from_secs(2);
/// Jobs running at once; the rest wait for a slot within their deadline.
const SLOTS: usize = 4;
/// Messages up to this size are signed and verified on the worker that holds them: their work
/// is bounded (one RSA operation and a few passes over at most this many bytes) and costs less
/// than handing it to another thread and back, two context switches on a busy core.
pub const INLINE_BYTES: usize = 64 * 1024;

/// Why offloaded work produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    #[error("signature work did not finish within {} ms", DEADLINE.as_millis())]
    Deadline,
    #[error("signature work failed")]
    Panicked,
}

/// A bounded pool of signature work, shared by clones.
#[derive(Clone)]
pub struct CryptoPool {
    slots: Arc<tokio::sync::Semaphore>,
}

impl Default for CryptoPool {
    fn default() -> Self {
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(SLOTS)),
        }
    }
}

impl CryptoPool {
    /// Runs `work`, the signature work of a message of `size` bytes: here when the message is
    /// at most [`INLINE_BYTES`], else on the blocking pool within [`DEADLINE`]. Past the
    /// deadline the caller gets [`OffloadError::Deadline`] at once; the job finishes in the
    /// background, holding its slot.
    pub async fn run<T: Send + 'static>(
        &self,
        size: usize,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, OffloadError> {
        if size <= INLINE_BYTES {
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .map_err(|_| OffloadError::Panicked);
        }
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let permit = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| OffloadError::Deadline)?
            .map_err(|_| OffloadError::Panicked)?;
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(OffloadError::Panicked),
            Err(_) => Err(OffloadError::Deadline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_past_the_deadline_is_given_up_without_waiting_for_it() {
        let pool = CryptoPool::default();
        let started = std::time::Instant::now();
        let result = pool
            .run(INLINE_BYTES + 1, || {
                std::thread::sleep(DEADLINE + Duration::from_secs(2))
            })
            .await;
        assert!(matches!(result, Err(OffloadError::Deadline)));
        assert!(started.elapsed() < DEADLINE + Duration::from_secs(1));
        assert_eq!(pool.run(INLINE_BYTES + 1, || 2 + 2).await.unwrap(), 4);
    }

    #[tokio::test]
    async fn small_work_runs_here_and_a_panic_in_it_is_an_error() {
        let pool = CryptoPool::default();
        let here = std::thread::current().id();
        let small = pool
            .run(INLINE_BYTES, move || std::thread::current().id() == here)
            .await
            .unwrap();
        assert!(small, "small work runs on the caller's thread");
        let large = pool
            .run(INLINE_BYTES + 1, move || {
                std::thread::current().id() == here
            })
            .await
            .unwrap();
        assert!(!large, "large work stays off the worker");
        let result = pool.run(10, || panic!("broken signature code")).await;
        assert!(matches!(result, Err(OffloadError::Panicked)));
    }
}
