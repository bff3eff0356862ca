//! Signature work off the async workers: on the blocking pool, a few jobs at a time, each
//! within a deadline, so that a costly message holds no request worker and cannot hold one for
//! long.

use std::sync::Arc;
use std::time::Duration;

/// How long the signature work of one message may take, waiting for a slot included.
pub const DEADLINE: Duration = Duration::from_secs(2);
/// Jobs running at once; the rest wait for a slot within their deadline.
const SLOTS: usize = 4;

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
    /// Runs `work` on the blocking pool within [`DEADLINE`]. Past the deadline the caller gets
    /// [`OffloadError::Deadline`] at once; the job finishes in the background, holding its slot.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, OffloadError> {
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
            .run(|| std::thread::sleep(DEADLINE + Duration::from_secs(2)))
            .await;
        assert!(matches!(result, Err(OffloadError::Deadline)));
        assert!(started.elapsed() < DEADLINE + Duration::from_secs(1));
        assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4);
    }
}
