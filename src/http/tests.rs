//! Retry behaviour against a tiny scripted HTTP server on 127.0.0.1 (one answer per request).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// One scripted answer.
#[derive(Clone)]
enum Answer {
    Status(u16, Vec<(&'static str, String)>, &'static str),
    Drop,
    Slow(Duration),
}

struct Script {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn serve(answers: Vec<Answer>) -> Script {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for answer in answers {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let mut read = 0;
                loop {
                    let n = socket.read(&mut buffer[read..]).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    read += n;
                    if buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buffer[..read]).to_string();
                log.lock().unwrap().push(head);
                match answer {
                    Answer::Drop => drop(socket),
                    Answer::Slow(pause) => {
                        tokio::time::sleep(pause).await;
                        let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                        .await;
                    }
                    Answer::Status(status, headers, body) => {
                        let mut text = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                            body.len()
                        );
                        for (name, value) in headers {
                            text.push_str(&format!("{name}: {value}\r\n"));
                        }
                        text.push_str("\r\n");
                        text.push_str(body);
                        let _ = socket.write_all(text.as_bytes()).await;
                    }
                }
            });
        }
    });
    Script { url, seen }
}

fn quick(max_retries: u32) -> HttpClient {
    HttpClient::new(&HttpConfig {
        read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(500),
        retry: RetryConfig {
            max_retries,
            base: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            total_timeout: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(2),
        },
        ..HttpConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn retries_5xx_and_429_until_success() {
    let script = serve(vec![
        Answer::Status(503, vec![], "busy"),
        Answer::Status(429, vec![], "slow down"),
        Answer::Status(502, vec![], "bad gateway"),
        Answer::Status(200, vec![], "{}"),
    ])
    .await;
    let client = quick(5);
    let response = client
        .send(client.inner().get(&script.url), Idempotency::ByMethod)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = script.seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    assert!(seen[0].contains(USER_AGENT), "{}", seen[0]);
}

#[tokio::test]
async fn gives_up_after_max_retries_with_the_last_answer() {
    let script = serve(vec![Answer::Status(500, vec![], "boom"); 3]).await;
    let client = quick(2);
    let response = client
        .send(client.inner().get(&script.url), Idempotency::ByMethod)
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(script.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let script = serve(vec![Answer::Status(404, vec![], r#"{"error":"gone"}"#)]).await;
    let client = quick(5);
    let response = client
        .send(client.inner().get(&script.url), Idempotency::ByMethod)
        .await
        .unwrap();
    let error = error_for_status(response, "GET").await.unwrap_err();
    assert_eq!(error.status(), Some(404));
    assert!(error.to_string().contains("gone"), "{error}");
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let script = serve(vec![
        Answer::Status(429, vec![("retry-after", "1".into())], ""),
        Answer::Status(200, vec![], ""),
    ])
    .await;
    let client = quick(3);
    let started = Instant::now();
    let response = client
        .send(client.inner().get(&script.url), Idempotency::ByMethod)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_after_beyond_the_cap_is_not_waited_for() {
    let script = serve(vec![Answer::Status(
        503,
        vec![("retry-after", "3600".into())],
        "",
    )])
    .await;
    let client = quick(3);
    let started = Instant::now();
    let response = client
        .send(client.inner().get(&script.url), Idempotency::ByMethod)
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn dropped_connections_are_retried_for_idempotent_requests() {
    let script = serve(vec![
        Answer::Drop,
        Answer::Drop,
        Answer::Status(200, vec![], ""),
    ])
    .await;
    let client = quick(3);
    let response = client
        .send(
            client.inner().put(&script.url).body("x"),
            Idempotency::ByMethod,
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(script.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_post_that_reached_the_server_is_not_sent_twice() {
    let script = serve(vec![Answer::Drop, Answer::Status(200, vec![], "")]).await;
    let client = quick(3);
    let error = client
        .send(
            client.inner().post(&script.url).body("{}"),
            Idempotency::ByMethod,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Transport { .. }), "{error}");
    assert_eq!(script.seen.lock().unwrap().len(), 1);
    // A 5xx answer to a POST is final too, but a 429 (refused, unprocessed) is retried.
    let script = serve(vec![
        Answer::Status(429, vec![], ""),
        Answer::Status(502, vec![], ""),
    ])
    .await;
    let response = client
        .send(
            client.inner().post(&script.url).body("{}"),
            Idempotency::ByMethod,
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(script.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_post_marked_safe_is_retried_and_slow_answers_time_out_then_retry() {
    let script = serve(vec![
        Answer::Slow(Duration::from_secs(2)),
        Answer::Status(200, vec![], ""),
    ])
    .await;
    let client = quick(2);
    let response = client
        .send(
            client.inner().post(&script.url).body("{}"),
            Idempotency::Safe,
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_post_and_reported_redacted() {
    // Bind then drop a listener: its port now refuses connections.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = quick(2);
    let url = format!("http://me:secretpw@127.0.0.1:{port}/x?access_token=tok123");
    let error = client
        .send(client.inner().post(&url).body("{}"), Idempotency::ByMethod)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("after 2 retries"), "{text}");
    assert!(
        !text.contains("secretpw") && !text.contains("tok123"),
        "{text}"
    );
}

#[test]
fn retry_after_parses_seconds_and_dates() {
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    assert_eq!(
        retry::parse_retry_after("120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(retry::parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
    assert_eq!(
        retry::parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        retry::parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
        Some(Duration::ZERO),
        "a date in the past means now"
    );
    assert_eq!(retry::parse_retry_after("soon", now), None);
    assert_eq!(retry::parse_retry_after("-3", now), None);
}

#[tokio::test]
async fn pagination_reads_until_a_short_page() {
    let pages = paginate(2, 10, |skip, limit| async move {
        let all = [1, 2, 3, 4, 5];
        Ok::<_, ()>(
            all.iter()
                .copied()
                .skip(skip)
                .take(limit)
                .collect::<Vec<_>>(),
        )
    })
    .await
    .unwrap();
    assert_eq!(pages, vec![1, 2, 3, 4, 5]);
}
