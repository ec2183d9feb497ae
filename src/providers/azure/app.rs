//! What the service becomes on Azure: the names of its resources, the Flex Consumption
//! runtime and memory it runs with, and the per-function facts stratus records as tags on the
//! function app (so `plan` can say which function changed although the app deploys as one
//! package).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::config::AzureConfig;
use crate::model::{Function, Language, ProviderKind, Service};

/// Resource Manager API versions.
pub mod api {
    /// `Microsoft.Resources/resourceGroups`.
    pub const GROUPS: &str = "2021-04-01";
    /// `Microsoft.Storage`.
    pub const STORAGE: &str = "2023-05-01";
    /// `Microsoft.Insights/components`.
    pub const INSIGHTS: &str = "2020-02-02";
    /// `Microsoft.Web` (plans, sites, functions).
    pub const WEB: &str = "2024-04-01";
}

/// Tag: the service a resource belongs to.
pub const SERVICE_TAG: &str = "stratus-service";
/// Tag: the stage a resource belongs to.
pub const STAGE_TAG: &str = "stratus-stage";
/// Tag on the app: sha256 of the published app package.
pub const PACKAGE_TAG: &str = "stratus-package";
/// Tag prefix on the app: a function's artifact sha256.
pub const CODE_TAG: &str = "stratus-code-";
/// Tag prefix on the app: a function's other settings (`key=value;...`).
pub const CONFIG_TAG: &str = "stratus-config-";
/// The blob container that holds deployment packages.
pub const CONTAINER: &str = "deployments";

/// The names and ARM paths of everything one service and stage uses.
#[derive(Debug, Clone)]
pub struct Names {
    /// Resource group.
    pub group: String,
    /// Function app.
    pub app: String,
    /// Flex Consumption plan.
    pub plan: String,
    /// Application Insights component.
    pub insights: String,
    /// Storage account (3–24 lower-case letters and digits).
    pub storage: String,
    /// `/subscriptions/{id}/resourceGroups/{group}`.
    pub group_path: String,
}

impl Names {
    /// The names for `service` under `config`.
    pub fn new(service: &Service, config: &AzureConfig) -> Names {
        let base = format!("{}-{}", service.name, service.stage);
        let app = match &config.prefix {
            Some(prefix) => format!("{prefix}-{base}"),
            None => base,
        };
        Names {
            group: config.resource_group.clone(),
            plan: format!("{app}-plan"),
            insights: format!("{app}-insights"),
            storage: storage_name(&config.subscription, &config.resource_group, &app),
            group_path: format!(
                "/subscriptions/{}/resourceGroups/{}",
                config.subscription, config.resource_group
            ),
            app,
        }
    }

    /// ARM path of a resource of the group: `{group_path}/providers/{rest}`.
    pub fn path(&self, rest: &str) -> String {
        format!("{}/providers/{rest}", self.group_path)
    }

    /// The storage account's path.
    pub fn storage_path(&self) -> String {
        self.path(&format!(
            "Microsoft.Storage/storageAccounts/{}",
            self.storage
        ))
    }

    /// The deployment container's path.
    pub fn container_path(&self) -> String {
        format!(
            "{}/blobServices/default/containers/{CONTAINER}",
            self.storage_path()
        )
    }

    /// The Application Insights component's path.
    pub fn insights_path(&self) -> String {
        self.path(&format!("Microsoft.Insights/components/{}", self.insights))
    }

    /// The plan's path.
    pub fn plan_path(&self) -> String {
        self.path(&format!("Microsoft.Web/serverfarms/{}", self.plan))
    }

    /// The function app's path.
    pub fn app_path(&self) -> String {
        self.path(&format!("Microsoft.Web/sites/{}", self.app))
    }
}

/// A valid, stable storage account name: `st` + letters and digits of the app name + a hash
/// of subscription, group and app (account names are global).
pub fn storage_name(subscription: &str, group: &str, app: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("{subscription}/{group}/{app}")));
    let letters: String = app
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(12)
        .collect();
    format!("st{letters}{}", &digest[..8])
}

/// Whether `name` is a valid storage account name.
pub fn valid_storage_name(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Flex Consumption's `functionAppConfig.runtime` (`name`, `version`) for a runtime, or why not.
pub fn flex_runtime(language: &Language, version: &str) -> Result<(String, String), String> {
    let mut parts = version.split('.');
    let major = parts.next().and_then(|m| m.parse::<u32>().ok());
    let minor = parts.next().and_then(|m| m.parse::<u32>().ok());
    match language {
        Language::Python => match (major, minor) {
            (None, _) | (Some(3), None) => Ok(("python".into(), "3.11".into())),
            (Some(3), Some(minor @ 10..=12)) => Ok(("python".into(), format!("3.{minor}"))),
            _ => Err(format!(
                "Python {version} does not run on Flex Consumption (it offers 3.10, 3.11, 3.12)"
            )),
        },
        Language::Node => match major {
            None => Ok(("node".into(), "20".into())),
            Some(major @ (20 | 22)) => Ok(("node".into(), major.to_string())),
            Some(other) => Err(format!(
                "Node.js {other} does not run on Flex Consumption (it offers 20 and 22)"
            )),
        },
        Language::Other => {
            Err("stratus deploys Python and Node.js function apps to Azure".to_string())
        }
    }
}

/// Flex Consumption instance sizes, MB.
pub const INSTANCE_SIZES: [u32; 2] = [2048, 4096];

/// The instance memory that fits `memory` MB, or `None` above the largest.
pub fn instance_memory(memory: u32) -> Option<u32> {
    INSTANCE_SIZES.into_iter().find(|size| *size >= memory)
}

/// Whether handlers are written for Azure (native) or need the AWS-style shim.
pub fn native_handlers(service: &Service) -> bool {
    service.provider.name == ProviderKind::Azure
}

/// The per-function settings recorded on the app, as plan fields (`runtime`, `handler`,
/// `memorySize`, `timeout`, `events`).
pub fn function_settings(service: &Service, function: &Function) -> BTreeMap<String, String> {
    let effective = service.effective(function);
    let mut settings = BTreeMap::new();
    if let Some(runtime) = effective.runtime {
        settings.insert("runtime".into(), runtime.raw);
    }
    if let Some(handler) = &function.handler {
        settings.insert("handler".into(), handler.clone());
    }
    settings.insert("memorySize".into(), effective.memory_size.to_string());
    settings.insert("timeout".into(), effective.timeout.to_string());
    let events = serde_json::to_string(&function.events).unwrap_or_default();
    settings.insert(
        "events".into(),
        hex::encode(Sha256::digest(events))[..12].to_string(),
    );
    settings
}

/// Encodes settings as one tag value (`key=value;...`; `;` and `=` never occur in them
/// except inside handler paths, which are percent-escaped).
pub fn encode_settings(settings: &BTreeMap<String, String>) -> String {
    settings
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('%', "%25").replace(';', "%3B")))
        .collect::<Vec<_>>()
        .join(";")
}

/// Decodes [`encode_settings`].
pub fn decode_settings(value: &str) -> BTreeMap<String, String> {
    value
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3B", ";").replace("%25", "%")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_names_are_valid_and_stable() {
        let name = storage_name("sub", "rg", "My-Very_Long-Service-Name-prod");
        assert!(valid_storage_name(&name), "{name}");
        assert_eq!(
            name,
            storage_name("sub", "rg", "My-Very_Long-Service-Name-prod")
        );
        assert_ne!(
            name,
            storage_name("sub2", "rg", "My-Very_Long-Service-Name-prod")
        );
    }

    #[test]
    fn runtimes_map_to_flex() {
        assert_eq!(
            flex_runtime(&Language::Python, "3.12").unwrap(),
            ("python".into(), "3.12".into())
        );
        assert_eq!(
            flex_runtime(&Language::Node, "20").unwrap(),
            ("node".into(), "20".into())
        );
        assert!(flex_runtime(&Language::Python, "3.9").is_err());
    }

    #[test]
    fn memory_rounds_up_to_an_instance_size() {
        assert_eq!(instance_memory(256), Some(2048));
        assert_eq!(instance_memory(3000), Some(4096));
        assert_eq!(instance_memory(8192), None);
    }

    #[test]
    fn settings_round_trip() {
        let mut s = BTreeMap::new();
        s.insert("handler".to_string(), "a;b%.main".to_string());
        s.insert("timeout".to_string(), "6".to_string());
        assert_eq!(decode_settings(&encode_settings(&s)), s);
    }
}
