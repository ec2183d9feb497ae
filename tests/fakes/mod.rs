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
