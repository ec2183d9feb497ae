//! Fake cloud control planes for the provider tests: one module per cloud, each an in-process
//! HTTP server on 127.0.0.1 that follows the provider's published REST contract.
#![allow(dead_code)]

pub mod azure;
pub mod azure_arm;
pub mod azure_host;
pub mod gcp;
pub mod gcp_api;
pub mod gcp_build;
pub mod gcp_host;
pub mod gcp_run;
pub mod openwhisk;
pub mod openwhisk_exec;
pub mod openwhisk_invoke;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A fake's answer; an error drops the connection.
pub type Reply = Result<Response<Full<Bytes>>, std::io::Error>;

/// Serves `handle` on `listener` until the task is aborted.
pub fn serve<F, Fut>(listener: TcpListener, handle: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Reply> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(&handle);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
