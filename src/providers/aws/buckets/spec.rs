//! What the manifest asks for: `s3` events parsed as Serverless writes them (`s3: BUCKET`, or
//! `{bucket, event, rules: [{prefix}, {suffix}], existing}`), each problem naming its key.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Event, Service};

/// One `s3` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Spec {
    /// The function's manifest name.
    pub function: String,
    /// The change name: `{function} s3 {bucket}` (` #{n}` for a second event on one bucket).
    pub name: String,
    /// The notification entry's Id: `stratus-{deployed function}-s3-{n}`.
    pub id: String,
    /// The bucket.
    pub bucket: String,
    /// `event` (default `s3:ObjectCreated:*`).
    pub events: BTreeSet<String>,
    /// `rules: [{prefix: ...}]`.
    pub prefix: Option<String>,
    /// `rules: [{suffix: ...}]`.
    pub suffix: Option<String>,
    /// `existing: true`: the bucket is the user's and must exist.
    pub existing: bool,
}

/// Every `s3` event of the manifest; malformed ones (see [`check`]) are skipped.
pub fn desired(service: &Service) -> Vec<S3Spec> {
    parse_all(service).0
}

/// Problems with `s3` events, each naming its key.
pub fn check(service: &Service) -> Diagnostics {
    parse_all(service).1
}

fn parse_all(service: &Service) -> (Vec<S3Spec>, Diagnostics) {
    let mut specs: Vec<S3Spec> = Vec::new();
    let mut problems = Diagnostics::default();
    for (name, function) in &service.functions {
        let mut n = 0;
        for (index, event) in function.events.iter().enumerate() {
            let Event::Other { kind, config } = event else {
                continue;
            };
            if kind != "s3" {
                continue;
            }
            n += 1;
            let key = format!("functions.{name}.events.{index}.s3");
            match parse(config, &key) {
                Ok((bucket, events, prefix, suffix, existing)) => {
                    let same_bucket = specs
                        .iter()
                        .filter(|s| s.function == *name && s.bucket == bucket)
                        .count();
                    let label = if same_bucket == 0 {
                        format!("{name} s3 {bucket}")
                    } else {
                        format!("{name} s3 {bucket} #{}", same_bucket + 1)
                    };
                    specs.push(S3Spec {
                        function: name.clone(),
                        name: label,
                        id: format!("stratus-{}-s3-{n}", service.deployed_name(name)),
                        bucket,
                        events,
                        prefix,
                        suffix,
                        existing,
                    });
                }
                Err(problem) => problems.push(problem),
            }
        }
    }
    (specs, problems)
}

type Parsed = (
    String,
    BTreeSet<String>,
    Option<String>,
    Option<String>,
    bool,
);

fn parse(config: &Json, key: &str) -> Result<Parsed, Diagnostic> {
    let empty = serde_json::Map::new();
    let (bucket, settings) = match config {
        Json::String(bucket) => (Some(bucket.as_str()), &empty),
        Json::Object(object) => (object.get("bucket").and_then(Json::as_str), object),
        _ => (None, &empty),
    };
    let Some(bucket) = bucket else {
        if settings.get("bucket").is_some_and(Json::is_object) {
            // A reference to a bucket of `resources:` (CloudFormation), which stratus does not
            // create: the function deploys without this trigger, and the user is told.
            return Err(Diagnostic::warning(
                format!("{key}.bucket"),
                "a CloudFormation reference (Ref, Fn::GetAtt) cannot be resolved without CloudFormation: the function deploys without this trigger",
            )
            .help("write the bucket's name (stratus creates it unless `existing: true`)"));
        }
        return Err(Diagnostic::error(key, "expected the bucket's name")
            .help("write `s3: photos` or `s3: {bucket: photos, event: s3:ObjectCreated:*}`"));
    };
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !valid {
        return Err(Diagnostic::error(
            key,
            format!("`{bucket}` is not a valid S3 bucket name"),
        )
        .help("3 to 63 characters of a-z, 0-9, `-` and `.`, starting and ending with a letter or digit"));
    }
    let event = match settings.get("event") {
        None => "s3:ObjectCreated:*".to_string(),
        Some(Json::String(event)) if event.starts_with("s3:") => event.clone(),
        Some(_) => {
            return Err(Diagnostic::error(
                format!("{key}.event"),
                "expected an S3 event type such as s3:ObjectCreated:*",
            ));
        }
    };
    let mut prefix = None;
    let mut suffix = None;
    if let Some(rules) = settings.get("rules") {
        let Some(rules) = rules.as_array() else {
            return Err(Diagnostic::error(
                format!("{key}.rules"),
                "expected a list such as [{prefix: uploads/}, {suffix: .jpg}]",
            ));
        };
        for rule in rules {
            let p = rule.get("prefix").and_then(Json::as_str);
            let s = rule.get("suffix").and_then(Json::as_str);
            if p.is_none() && s.is_none() {
                return Err(Diagnostic::error(
                    format!("{key}.rules"),
                    "each rule is `{prefix: TEXT}` or `{suffix: TEXT}`",
                ));
            }
            if let Some(p) = p {
                prefix = Some(p.to_string());
            }
            if let Some(s) = s {
                suffix = Some(s.to_string());
            }
        }
    }
    let existing = settings
        .get("existing")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    Ok((
        bucket.to_string(),
        BTreeSet::from([event]),
        prefix,
        suffix,
        existing,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Function, ProviderKind};
    use serde_json::json;

    fn service(events: Vec<Json>) -> Service {
        let mut function = Function::new("thumbs", Some("t.main"));
        for config in events {
            function.events.push(Event::Other {
                kind: "s3".into(),
                config,
            });
        }
        Service::new("pics", ProviderKind::Aws, std::path::PathBuf::from("."))
            .with_function(function)
    }

    #[test]
    fn s3_events_parse_as_serverless_writes_them() {
        let svc = service(vec![
            json!("photos"),
            json!({"bucket": "photos", "event": "s3:ObjectRemoved:*", "rules": [{"prefix": "up/"}, {"suffix": ".jpg"}], "existing": true}),
        ]);
        let specs = desired(&svc);
        assert_eq!(specs.len(), 2, "{}", check(&svc));
        assert_eq!(specs[0].name, "thumbs s3 photos");
        assert_eq!(specs[0].id, "stratus-pics-dev-thumbs-s3-1");
        assert!(specs[0].events.contains("s3:ObjectCreated:*"));
        assert_eq!(specs[1].name, "thumbs s3 photos #2");
        assert_eq!(specs[1].prefix.as_deref(), Some("up/"));
        assert_eq!(specs[1].suffix.as_deref(), Some(".jpg"));
        assert!(specs[1].existing);
    }

    #[test]
    fn malformed_s3_events_are_errors_naming_the_key() {
        let svc = service(vec![
            json!({"bucket": {"Ref": "B"}}),
            json!("Not_A_Bucket"),
            json!({"bucket": "ok-bucket", "rules": [{"other": 1}]}),
        ]);
        let keys: Vec<String> = check(&svc).0.iter().filter_map(|d| d.key.clone()).collect();
        assert_eq!(
            keys,
            [
                "functions.thumbs.events.0.s3.bucket",
                "functions.thumbs.events.1.s3",
                "functions.thumbs.events.2.s3.rules"
            ]
        );
        // The CloudFormation reference is a warning (the trigger is skipped), the rest errors.
        let problems = check(&svc);
        assert!(!problems.0[0].is_error());
        assert!(problems.0[1].is_error() && problems.0[2].is_error());
    }
}
