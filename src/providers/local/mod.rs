//! The `local` provider: functions installed and run on this machine, no cloud.

use async_trait::async_trait;

use super::*;
use crate::package::Packaged;

/// Runs functions as python3 / node processes under a state directory.
#[derive(Debug)]
pub struct LocalProvider {}

impl LocalProvider {
    /// Reads `STRATUS_STATE_DIR` or the default state directory.
    pub fn from_env() -> anyhow::Result<LocalProvider> {
        Ok(LocalProvider {})
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }
    fn check(&self, _service: &Service, _scope: &Scope) -> Diagnostics {
        Diagnostics::default()
    }
    async fn plan(&self, _: &Service, _: &Packaged, _: &Scope) -> anyhow::Result<Plan> {
        anyhow::bail!("local provider not built yet")
    }
    async fn apply(&self, _: &Service, _: &Packaged, plan: &Plan) -> Result<Applied, ApplyError> {
        Err(ApplyError {
            done: vec![],
            failed: vec![],
            pending: plan.changes.clone(),
        })
    }
    async fn invoke(&self, _: &Service, _: &InvokeRequest) -> anyhow::Result<Invocation> {
        anyhow::bail!("local provider not built yet")
    }
    async fn logs(&self, _: &Service, _: &LogQuery) -> anyhow::Result<Vec<LogRecord>> {
        anyhow::bail!("local provider not built yet")
    }
    async fn info(&self, _: &Service) -> anyhow::Result<ServiceInfo> {
        anyhow::bail!("local provider not built yet")
    }
    async fn remove(&self, _: &Service) -> anyhow::Result<Vec<Removed>> {
        anyhow::bail!("local provider not built yet")
    }
}

impl LocalProvider {
    /// Runs a handler from the service's working tree, without deploying (`invoke local`).
    pub async fn invoke_working_tree(
        &self,
        _service: &Service,
        _request: &InvokeRequest,
    ) -> anyhow::Result<Invocation> {
        anyhow::bail!("invoke local is not built yet")
    }

    /// Serves the manifest's HTTP routes on 127.0.0.1:`port` until Ctrl-C.
    pub async fn serve(
        &self,
        _service: &Service,
        _port: u16,
        _out: &crate::cli::output::Output,
    ) -> anyhow::Result<()> {
        anyhow::bail!("serve is not built yet")
    }
}
