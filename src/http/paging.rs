//! Page-token pagination and long-running-operation polling, for APIs in Google's style (and
//! any other that pages with an opaque token or answers writes with an operation to poll).

use std::future::Future;
use std::time::Duration;

/// Collects every item of a listing paged with an opaque token (`pageToken` /
/// `nextPageToken`).
///
/// `fetch(token)` returns one page and the next token; an absent or empty token ends the
/// listing. At most `max_pages` pages are read, so a server that keeps answering tokens cannot
/// loop us.
pub async fn paginate_tokens<T, F, Fut, E>(max_pages: usize, mut fetch: F) -> Result<Vec<T>, E>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), E>>,
{
    let mut items = Vec::new();
    let mut token = None;
    for _ in 0..max_pages {
        let (batch, next) = fetch(token.take()).await?;
        items.extend(batch);
        match next.filter(|next| !next.is_empty()) {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(items)
}

/// How to wait on a long-running operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollConfig {
    /// The first wait between two polls; it doubles up to `max_interval`.
    pub interval: Duration,
    /// The longest wait between two polls.
    pub max_interval: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for PollConfig {
    fn default() -> PollConfig {
        PollConfig {
            interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// Calls `poll` until it answers `Some`, waiting with backoff between calls; `None` after
/// `config.timeout`.
pub async fn poll_until<T, F, Fut, E>(config: &PollConfig, mut poll: F) -> Result<Option<T>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let started = tokio::time::Instant::now();
    let mut wait = config.interval;
    loop {
        if let Some(done) = poll().await? {
            return Ok(Some(done));
        }
        if started.elapsed() + wait > config.timeout {
            return Ok(None);
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(config.max_interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn follows_tokens_to_the_end() {
        let pages = [
            (vec![1, 2], Some("a")),
            (vec![3], Some("b")),
            (vec![4], None),
        ];
        let items: Vec<i32> = paginate_tokens(10, |token| {
            let index = match token.as_deref() {
                None => 0,
                Some("a") => 1,
                _ => 2,
            };
            let (items, next) = pages[index].clone();
            async move { Ok::<_, ()>((items, next.map(str::to_string))) }
        })
        .await
        .unwrap();
        assert_eq!(items, [1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn polls_until_done_or_timeout() {
        let config = PollConfig {
            interval: Duration::from_millis(1),
            max_interval: Duration::from_millis(4),
            timeout: Duration::from_millis(200),
        };
        let mut calls = 0;
        let done = poll_until(&config, || {
            calls += 1;
            let answer = (calls == 3).then_some(calls);
            async move { Ok::<_, ()>(answer) }
        })
        .await
        .unwrap();
        assert_eq!(done, Some(3));
        let never = poll_until(&config, || async { Ok::<Option<u8>, ()>(None) })
            .await
            .unwrap();
        assert_eq!(never, None);
    }
}
