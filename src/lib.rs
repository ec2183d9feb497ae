//! stratus: deploy `serverless.yml` services to AWS Lambda, Azure Functions, Google Cloud
//! Functions, Apache OpenWhisk, or this machine, from one fast static binary.
//!
//! The pipeline (see `docs/architecture.md`): [`manifest`] loads the YAML into the
//! provider-neutral [`model`]; [`package`] builds deterministic zips; a [`providers`] adapter
//! plans the diff against live state and applies it; [`cli`] prints the same for every target.

pub mod cli;
pub mod diagnostic;
pub mod http;
pub mod manifest;
pub mod model;
pub mod package;
pub mod providers;
