//! Running independent requests side by side with one bound, without spawning tasks (so the
//! futures may borrow the client and the service).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Runs `futures` with at most `limit` in flight; the outputs come back in input order.
pub async fn bounded<F: Future>(futures: Vec<F>, limit: usize) -> Vec<F::Output> {
    let semaphore = tokio::sync::Semaphore::new(limit.max(1));
    let semaphore = &semaphore;
    let gated = futures.into_iter().map(|future| async move {
        // The semaphore is never closed, so acquiring cannot fail; a failure would only
        // lift the bound, never lose the work.
        let _permit = semaphore.acquire().await.ok();
        future.await
    });
    join_all(gated.collect()).await
}

/// Polls every future until all are done; outputs in input order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_some() {
                continue;
            }
            match future.as_mut().poll(cx) {
                Poll::Ready(value) => *output = Some(value),
                Poll::Pending => waiting = true,
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    // Invariant: poll_fn only returned once every output was filled.
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn runs_at_most_limit_at_once_and_keeps_order() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let work: Vec<_> = (0..10u64)
            .map(|n| {
                let (running, peak) = (&running, &peak);
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20 - n)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    n * 2
                }
            })
            .collect();
        let outputs = bounded(work, 3).await;
        assert_eq!(outputs, (0..10).map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
