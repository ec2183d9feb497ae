//! The keys stratus knows at the top level, under `provider` and under each function, and
//! the "did you mean" suggestion for the others.
//!
//! The lists are generous on purpose: every Serverless Framework v3 AWS key plus the keys the
//! Azure, Google and OpenWhisk provider plugins document, so real manifests load without
//! noise. An unknown key is only a warning.

/// Top-level keys.
pub const TOP_LEVEL: &[&str] = &[
    "service",
    "frameworkVersion",
    "provider",
    "functions",
    "package",
    "plugins",
    "custom",
    "resources",
    "params",
    "app",
    "org",
    "tenant",
    "layers",
    "stepFunctions",
    "constructs",
    "useDotenv",
    "variablesResolutionMode",
    "configValidationMode",
    "deprecationNotificationMode",
    "disabledDeprecations",
    "unresolvedVariablesNotificationMode",
    "outputs",
    "console",
    "dashboard",
    "stages",
    "build",
    "license",
];

/// `provider` keys (AWS, Azure, Google, OpenWhisk and local).
pub const PROVIDER: &[&str] = &[
    // Common.
    "name",
    "runtime",
    "stage",
    "region",
    "memorySize",
    "timeout",
    "environment",
    "tags",
    "architecture",
    "credentials",
    "profile",
    // AWS.
    "alb",
    "apiGateway",
    "apiKeys",
    "apiName",
    "cfnRole",
    "cloudFront",
    "deploymentBucket",
    "deploymentMethod",
    "deploymentPrefix",
    "disableRollback",
    "ecr",
    "endpointType",
    "ephemeralStorageSize",
    "eventBridge",
    "httpApi",
    "iam",
    "iamManagedPolicies",
    "iamRoleStatements",
    "kafka",
    "kmsKeyArn",
    "lambdaHashingVersion",
    "layers",
    "logDataProtectionPolicy",
    "logRetentionInDays",
    "logs",
    "notificationArns",
    "resourcePolicy",
    "role",
    "rolePermissionsBoundary",
    "rollbackConfiguration",
    "runtimeManagement",
    "s3",
    "stackName",
    "stackParameters",
    "stackPolicy",
    "stackTags",
    "tracing",
    "usagePlan",
    "versionFunctions",
    "vpc",
    "vpcEndpointIds",
    "websocketsApiName",
    "websocketsApiRouteSelectionExpression",
    "websocketsDescription",
    "accountId",
    // Google.
    "project",
    "labels",
    "serviceAccountEmail",
    "minInstances",
    "maxInstances",
    "ingressSettings",
    "vpcEgress",
    // Azure.
    "location",
    "subscriptionId",
    "resourceGroup",
    "prefix",
    "os",
    "type",
    "appInsights",
    "functionApp",
    "deploymentName",
    "apim",
    "tenantId",
    "appId",
    "keyVaultConfig",
    "storageAccount",
    "environmentVars",
    // OpenWhisk.
    "namespace",
    "apihost",
    "auth",
    "ignore_certs",
    "memory",
    "overwrite",
    "concurrency",
    // Other providers seen in the wild.
    "config",
    "dependencies",
    "docker",
    "spotinst",
];

/// Function keys (AWS, Azure, Google, OpenWhisk and local).
pub const FUNCTION: &[&str] = &[
    "handler",
    "image",
    "name",
    "description",
    "runtime",
    "memorySize",
    "memory",
    "timeout",
    "environment",
    "events",
    "package",
    "tags",
    "architecture",
    // AWS.
    "condition",
    "dependsOn",
    "destinations",
    "disableLogs",
    "ephemeralStorageSize",
    "fileSystemConfig",
    "iamRoleStatements",
    "iamRoleStatementsName",
    "kmsKeyArn",
    "layers",
    "logRetentionInDays",
    "logs",
    "maximumEventAge",
    "maximumRetryAttempts",
    "onError",
    "provisionedConcurrency",
    "reservedConcurrency",
    "role",
    "runtimeManagement",
    "snapStart",
    "tracing",
    "url",
    "versionFunction",
    "vpc",
    // Google.
    "labels",
    "serviceAccountEmail",
    "minInstances",
    "maxInstances",
    "vpcEgress",
    "secrets",
    // OpenWhisk.
    "parameters",
    "annotations",
    "sequence",
    "overwrite",
    "namespace",
    "concurrency",
    "limits",
    "web",
    // Plugins seen in the wild.
    "webpack",
    "warmup",
];

/// The known key closest to `key`, if one is close enough to be a likely typo.
pub fn did_you_mean(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(f64, &'static str)> = None;
    for candidate in known {
        let candidate_lower = candidate.to_ascii_lowercase();
        let score = if candidate_lower == lower {
            1.0
        } else {
            strsim::jaro_winkler(&lower, &candidate_lower)
        };
        if score >= 0.85 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(did_you_mean("handlr", FUNCTION), Some("handler"));
        assert_eq!(did_you_mean("memorysize", FUNCTION), Some("memorySize"));
        assert_eq!(did_you_mean("fuctions", TOP_LEVEL), Some("functions"));
        assert_eq!(did_you_mean("zzzz", FUNCTION), None);
    }
}
