//! A cached credential that is fetched once and reused until shortly before it expires.
//!
//! Concurrent callers share one fetch ("single flight"): the cache lock is held while the
//! token is fetched, so a burst of requests at start-up makes one token request, not many.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// A token and when it stops being valid (`None`: never).
#[derive(Debug, Clone)]
pub struct TemporaryToken<T> {
    /// The token.
    pub token: T,
    /// When it expires.
    pub expiry: Option<Instant>,
}

/// Caches one token; see the module documentation.
#[derive(Debug)]
pub struct TokenCache<T> {
    cached: Mutex<Option<TemporaryToken<T>>>,
    min_ttl: Duration,
}

impl<T: Clone + Send> Default for TokenCache<T> {
    fn default() -> TokenCache<T> {
        TokenCache::new(Duration::from_secs(300))
    }
}

impl<T: Clone + Send> TokenCache<T> {
    /// A cache that refreshes a token once it has less than `min_ttl` left.
    pub fn new(min_ttl: Duration) -> TokenCache<T> {
        TokenCache {
            cached: Mutex::new(None),
            min_ttl,
        }
    }

    /// The cached token, or a new one from `fetch` when there is none or it expires soon.
    pub async fn get_or_insert_with<F, Fut, E>(&self, fetch: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TemporaryToken<T>, E>>,
    {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            let fresh = token.expiry.is_none_or(|expiry| {
                expiry.saturating_duration_since(Instant::now()) > self.min_ttl
            });
            if fresh {
                return Ok(token.token.clone());
            }
        }
        let token = fetch().await?;
        let value = token.token.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Forgets the cached token (after the server rejected it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_fresh_token_is_reused_and_a_stale_one_refreshed() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let fetches = AtomicUsize::new(0);
        let fetch = |ttl: u64| {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok::<_, std::convert::Infallible>(TemporaryToken {
                    token: format!("token-{n}"),
                    expiry: Some(Instant::now() + Duration::from_secs(ttl)),
                })
            }
        };
        assert_eq!(
            cache.get_or_insert_with(|| fetch(3600)).await.unwrap(),
            "token-0"
        );
        assert_eq!(
            cache.get_or_insert_with(|| fetch(3600)).await.unwrap(),
            "token-0"
        );
        cache.invalidate().await;
        // Expires within min_ttl: used once, then replaced on the next call.
        assert_eq!(
            cache.get_or_insert_with(|| fetch(30)).await.unwrap(),
            "token-1"
        );
        assert_eq!(
            cache.get_or_insert_with(|| fetch(3600)).await.unwrap(),
            "token-2"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(1)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_insert_with(|| async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, std::convert::Infallible>(TemporaryToken {
                            token: 7u32,
                            expiry: None,
                        })
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), 7);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }
}
