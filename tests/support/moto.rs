//! The moto harness: starts the third-party AWS emulator `moto` (PyPI `moto[server]`) once per
//! test binary on a free 127.0.0.1 port, turns off its Docker-backed Lambda execution, and
//! builds SDK configurations (dummy credentials) that point at it — optionally through a
//! connector that injects faults.
//!
//! moto is found at `$MOTO_PYTHON`, else `<repo>/.venv/bin/python`. When it is missing the
//! tests fail with how to install it; they never skip.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// The region every test deploys to.
pub const REGION: &str = "us-east-1";

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
    _watchdog: Mutex<Child>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The moto server of this test binary, started on first use.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(Moto::start)
}

fn python() -> PathBuf {
    for variable in ["MOTO_PYTHON", "STRATUS_TEST_PYTHON"] {
        if let Some(python) = std::env::var_os(variable) {
            return PathBuf::from(python);
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

const INSTALL_HELP: &str = "moto is not installed: run `scripts/peers` (or `python3 -m venv .venv \
     && .venv/bin/pip install 'moto[server]'`) in the repository, or set STRATUS_TEST_PYTHON to a \
     python that has moto[server]";

impl Moto {
    fn start() -> Moto {
        let python = python();
        let importable = Command::new(&python)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|status| status.success())
            .unwrap_or(false);
        assert!(
            importable,
            "{INSTALL_HELP} (looked for {})",
            python.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free loopback port");
        // The shell watchdog kills moto when this process goes away (its stdin closes), so no
        // emulator outlives the tests even though a static is never dropped.
        let script = format!(
            "\"$0\" -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; \
             cat >/dev/null; kill $pid"
        );
        let child = Command::new("sh")
            // Real accounts have the AWS managed policies (AWSLambdaBasicExecutionRole...).
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .arg("-c")
            .arg(script)
            .arg(&python)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto through sh");
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _watchdog: Mutex::new(child),
        };
        let started = Instant::now();
        while moto.request("GET", "/moto-api/", "").is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not answer on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let (status, body) = moto
            .request(
                "POST",
                "/moto-api/config",
                r#"{"lambda": {"use_docker": false}}"#,
            )
            .expect("configuring moto");
        assert!(
            (200..300).contains(&status) && body.contains(r#""lambda": {"use_docker": false}"#),
            "moto config answered {status}: {body}"
        );
        moto
    }

    /// A plain HTTP/1.1 request to moto; answers (status, body).
    pub fn request(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Creates an SQS queue in moto (stratus never creates queues, so tests make their own
    /// with one raw JSON-protocol call); answers its ARN.
    pub fn sqs_queue(&self, name: &str) -> String {
        let body = format!("{{\"QueueName\": \"{name}\"}}");
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/x-amz-json-1.0\r\n\
             X-Amz-Target: AmazonSQS.CreateQueue\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.contains("QueueUrl"),
            "moto did not create the queue: {answer}"
        );
        format!("arn:aws:sqs:{REGION}:123456789012:{name}")
    }

    /// An SDK configuration for moto with dummy credentials and fast retries.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_with(stratus::providers::aws::config::http_client())
            .await
    }

    /// Like [`Moto::sdk_config`], through `http_client` (e.g. a [`FaultyClient`]).
    pub async fn sdk_config_with(&self, http_client: SharedHttpClient) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .http_client(http_client)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(4)
                    .with_initial_backoff(Duration::from_millis(20))
                    .with_max_backoff(Duration::from_millis(200)),
            )
            .load()
            .await
    }
}

/// One fault: requests matching `method`, `path_contains` and `body_contains` get `status`
/// with `error_type`, `times` times (`usize::MAX` for ever).
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP method.
    pub method: &'static str,
    /// Text the request path must contain.
    pub path_contains: String,
    /// Text the request body must contain ("" for any).
    pub body_contains: String,
    /// Status answered instead of forwarding.
    pub status: u16,
    /// The AWS error code answered (`TooManyRequestsException`, `ServiceException`).
    pub error_type: &'static str,
    /// How many more times to inject.
    pub times: usize,
}

/// An HTTP client that answers matching requests with a fault and forwards the rest.
#[derive(Debug, Clone)]
pub struct FaultyClient {
    inner: SharedHttpClient,
    faults: Arc<Mutex<Vec<Fault>>>,
    injected: Arc<Mutex<usize>>,
}

impl FaultyClient {
    /// Forwards to stratus's own HTTP client, injecting `faults`.
    pub fn new(faults: Vec<Fault>) -> FaultyClient {
        FaultyClient {
            inner: stratus::providers::aws::config::http_client(),
            faults: Arc::new(Mutex::new(faults)),
            injected: Arc::new(Mutex::new(0)),
        }
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        *self.injected.lock().unwrap()
    }

    /// Stops injecting.
    pub fn heal(&self) {
        self.faults.lock().unwrap().clear();
    }

    /// As an SDK HTTP client.
    pub fn shared(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            client: self.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    client: FaultyClient,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default();
        let mut faults = self.client.faults.lock().unwrap();
        let hit = faults.iter_mut().find(|fault| {
            fault.times > 0
                && request.method() == fault.method
                && request.uri().contains(&fault.path_contains)
                && body.contains(&fault.body_contains)
        });
        if let Some(fault) = hit {
            fault.times = fault.times.saturating_sub(1);
            *self.client.injected.lock().unwrap() += 1;
            let mut response = HttpResponse::new(
                StatusCode::try_from(fault.status).expect("a valid status"),
                SdkBody::from(format!(
                    r#"{{"__type":"{0}","message":"injected {0}"}}"#,
                    fault.error_type
                )),
            );
            response
                .headers_mut()
                .insert("x-amzn-ErrorType", fault.error_type);
            response
                .headers_mut()
                .insert("Content-Type", "application/json");
            return HttpConnectorFuture::ready(Ok(response));
        }
        drop(faults);
        self.inner.call(request)
    }
}
