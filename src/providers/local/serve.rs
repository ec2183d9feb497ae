//! `stratus serve`: an HTTP/1.1 server on 127.0.0.1 that answers the manifest's HTTP routes
//! with the deployed functions.
//!
//! Each request is matched against the `http` / `httpApi` events (method or `ANY`, `{param}`
//! and `{proxy+}` segments, most specific route first), turned into an API Gateway v2 event,
//! run by the deployed function in a fresh process, and its result mapped back ([`super::event`]).
//! Unknown routes answer `404 {"message":"Not Found"}`; a handler error, a timeout or a function
//! that is not deployed answers `502 {"message":"Internal Server Error"}` (the reason goes to
//! stderr).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::LocalProvider;
use super::event::{
    HttpAnswer, HttpRequest, Route, api_gateway_event, find_route, map_result, sort_routes,
};
use crate::model::{Event, Service};
use crate::providers::Outcome;

/// Largest request body accepted (API Gateway's limit).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// The routes of one service and how to answer them.
#[derive(Debug)]
pub struct Server {
    provider: LocalProvider,
    service: Service,
    routes: Vec<Route>,
    print_requests: bool,
}

impl Server {
    /// A server for `service`'s HTTP events; fails when it has none. With `print_requests`,
    /// each request is printed on stderr (`GET /hello 200 12ms`).
    pub fn new(
        provider: LocalProvider,
        service: Service,
        print_requests: bool,
    ) -> anyhow::Result<Arc<Server>> {
        let mut routes: Vec<Route> = service
            .functions
            .iter()
            .flat_map(|(name, function)| {
                function.events.iter().filter_map(move |event| match event {
                    Event::Http(http) => Some(Route {
                        function: name.clone(),
                        method: http.method.to_ascii_uppercase(),
                        path: http.path.clone(),
                    }),
                    _ => None,
                })
            })
            .collect();
        if routes.is_empty() {
            anyhow::bail!(
                "{} has no `http` or `httpApi` events: nothing to serve; add one, e.g. \
                 `events: [{{httpApi: {{method: GET, path: /hello}}}}]`",
                service.manifest.display()
            );
        }
        sort_routes(&mut routes);
        Ok(Arc::new(Server {
            provider,
            service,
            routes,
            print_requests,
        }))
    }

    /// One line per route (`GET /hello → hello`), noting functions that are not deployed.
    pub fn describe(&self, port: u16) -> Vec<String> {
        let stage = self.provider.stage_dir(&self.service);
        self.routes
            .iter()
            .map(|route| {
                let deployed = stage.function_file(&route.function).is_file();
                format!(
                    "  {:<6} http://127.0.0.1:{port}{}  → {}{}",
                    route.method,
                    route.path,
                    route.function,
                    if deployed {
                        ""
                    } else {
                        "  (not deployed: run `stratus deploy`)"
                    }
                )
            })
            .collect()
    }

    /// Accepts connections on `listener` until `shutdown` completes.
    pub async fn run(
        self: Arc<Server>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = listener.accept() => accepted.context("accepting a connection")?,
            };
            let server = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(server.answer(request, peer).await) }
                });
                // A client that hangs up mid-request is not worth reporting.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn answer(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let answer = self.route(request, peer).await;
        if self.print_requests {
            eprintln!(
                "{method} {path} {} {}ms",
                answer.status,
                started.elapsed().as_millis()
            );
        }
        let mut response = Response::builder().status(answer.status);
        for (name, value) in &answer.headers {
            response = response.header(name.as_str(), value.as_str());
        }
        response
            .body(Full::new(Bytes::from(answer.body)))
            .unwrap_or_else(|_| {
                let fallback = HttpAnswer::message(502, "Internal Server Error");
                let mut response = Response::new(Full::new(Bytes::from(fallback.body)));
                *response.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                response
            })
    }

    async fn route(&self, request: Request<Incoming>, peer: SocketAddr) -> HttpAnswer {
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let Some((route, params)) = find_route(&self.routes, &method, &path) else {
            return HttpAnswer::message(404, "Not Found");
        };
        let query = request.uri().query().unwrap_or_default().to_string();
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => {
                return HttpAnswer::message(413, "Request Entity Too Large");
            }
            Err(_) => return HttpAnswer::message(400, "Bad Request"),
        };
        let http = HttpRequest {
            method,
            path,
            query,
            headers,
            body: body.to_vec(),
            source_ip: peer.ip().to_string(),
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let event = api_gateway_event(&http, route, &params, &self.service.stage, &request_id);
        let invocation = self
            .provider
            .invoke_deployed(&self.service, &route.function, &event.to_string())
            .await;
        match invocation {
            Ok(invocation) => match &invocation.outcome {
                Outcome::Success => match serde_json::from_str(&invocation.payload) {
                    Ok(result) => map_result(&result),
                    Err(_) => HttpAnswer::message(502, "Internal Server Error"),
                },
                Outcome::FunctionError { kind, message, .. } => {
                    eprintln!("error: {} {kind}: {message}", route.function);
                    HttpAnswer::message(502, "Internal Server Error")
                }
                Outcome::Accepted => HttpAnswer::message(202, "Accepted"),
            },
            Err(error) => {
                eprintln!("error: {error:#}");
                HttpAnswer::message(502, "Internal Server Error")
            }
        }
    }
}
