//! The plan: what a deploy would change, provider-neutral.
//!
//! Every provider's `plan` answers a [`Plan`]; one renderer (in `cli::output`) turns it into
//! the human diff and the `--json` document, and `apply` takes that same plan, so what was
//! shown is what runs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It does not exist yet.
    Create,
    /// It exists and differs (see the fields).
    Update,
    /// It exists and is no longer wanted.
    Delete,
    /// It exists and matches.
    Unchanged,
}

impl Action {
    /// The one-character mark of the human diff.
    pub fn mark(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
            Action::Unchanged => '=',
        }
    }

    /// The verb of the human diff.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
        }
    }
}

/// The kinds of resources a plan talks about, across all providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// A function (Lambda function, OpenWhisk action, Cloud Function, local install).
    Function,
    /// An execution role.
    Role,
    /// An HTTP API / gateway.
    Api,
    /// A route of an HTTP API.
    Route,
    /// A schedule, trigger or rule.
    Trigger,
    /// An Azure function app (and its plan).
    App,
    /// A storage account, bucket or container.
    Storage,
    /// A resource group, package or namespace-like container.
    Group,
    /// Anything else.
    Other,
}

impl ResourceKind {
    /// Lower-case name for the human diff.
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::Function => "function",
            ResourceKind::Role => "role",
            ResourceKind::Api => "api",
            ResourceKind::Route => "route",
            ResourceKind::Trigger => "trigger",
            ResourceKind::App => "app",
            ResourceKind::Storage => "storage",
            ResourceKind::Group => "group",
            ResourceKind::Other => "resource",
        }
    }
}

/// One field that differs in an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field (`code`, `memorySize`, `environment.TABLE`...).
    pub field: String,
    /// Live value, rendered; `None` when absent.
    pub old: Option<String>,
    /// Desired value, rendered; `None` when it goes away.
    pub new: Option<String>,
    /// When true, both values are shown as `(sensitive)`.
    pub sensitive: bool,
}

impl FieldChange {
    /// A change of `field` from `old` to `new`.
    pub fn new(
        field: impl Into<String>,
        old: Option<impl ToString>,
        new: Option<impl ToString>,
    ) -> FieldChange {
        FieldChange {
            field: field.into(),
            old: old.map(|v| v.to_string()),
            new: new.map(|v| v.to_string()),
            sensitive: false,
        }
    }

    /// Marks the values as secret: they are never printed.
    pub fn sensitive(mut self) -> FieldChange {
        self.sensitive = true;
        self
    }

    /// The old value as it may be shown.
    pub fn shown_old(&self) -> Option<&str> {
        self.old
            .as_deref()
            .map(|v| if self.sensitive { "(sensitive)" } else { v })
    }

    /// The new value as it may be shown.
    pub fn shown_new(&self) -> Option<&str> {
        self.new
            .as_deref()
            .map(|v| if self.sensitive { "(sensitive)" } else { v })
    }
}

/// A resource's comparable fields: name → (value rendered as text, whether it is secret).
pub type Fields = BTreeMap<String, (String, bool)>;

/// The fields that differ between `live` and `desired`, in name order; a field secret on
/// either side is marked sensitive, so its values are never shown.
pub fn diff_fields(live: &Fields, desired: &Fields) -> Vec<FieldChange> {
    let names: BTreeSet<&String> = live.keys().chain(desired.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let old = live.get(name);
            let new = desired.get(name);
            if old.map(|(v, _)| v) == new.map(|(v, _)| v) {
                return None;
            }
            let change = FieldChange::new(name.clone(), old.map(|(v, _)| v), new.map(|(v, _)| v));
            let secret = old.is_some_and(|(_, s)| *s) || new.is_some_and(|(_, s)| *s);
            Some(if secret { change.sensitive() } else { change })
        })
        .collect()
}

/// One resource's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What kind of resource.
    pub kind: ResourceKind,
    /// Its name as the user knows it (the function's manifest name for functions).
    pub name: String,
    /// Its name in the cloud (`{service}-{stage}-{function}`...).
    pub deployed_name: String,
    /// What happens.
    pub action: Action,
    /// For updates, what differs; serialized with secrets already masked.
    #[serde(serialize_with = "serialize_masked")]
    pub fields: Vec<FieldChange>,
}

fn serialize_masked<S: serde::Serializer>(
    fields: &[FieldChange],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    #[derive(Serialize)]
    struct Shown<'a> {
        field: &'a str,
        old: Option<&'a str>,
        new: Option<&'a str>,
        sensitive: bool,
    }
    let mut seq = serializer.serialize_seq(Some(fields.len()))?;
    for field in fields {
        seq.serialize_element(&Shown {
            field: &field.field,
            old: field.shown_old(),
            new: field.shown_new(),
            sensitive: field.sensitive,
        })?;
    }
    seq.end()
}

impl Change {
    /// A change with no field details.
    pub fn new(
        kind: ResourceKind,
        name: impl Into<String>,
        deployed_name: impl Into<String>,
        action: Action,
    ) -> Change {
        Change {
            kind,
            name: name.into(),
            deployed_name: deployed_name.into(),
            action,
            fields: Vec::new(),
        }
    }

    /// Adds the fields that differ.
    pub fn with_fields(mut self, fields: Vec<FieldChange>) -> Change {
        self.fields = fields;
        self
    }
}

/// What a deploy would do, for one service, stage and provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The provider that made it (`local`, `aws`...).
    pub provider: String,
    /// The service name.
    pub service: String,
    /// The stage.
    pub stage: String,
    /// The region, where the provider has one.
    pub region: Option<String>,
    /// Every resource the deploy considers, in the order `apply` runs them.
    pub changes: Vec<Change>,
}

impl Plan {
    /// Whether anything would be written.
    pub fn has_changes(&self) -> bool {
        self.changes
            .iter()
            .any(|change| change.action != Action::Unchanged)
    }

    /// How many changes of each action: (create, update, delete, unchanged).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let count = |action| self.changes.iter().filter(|c| c.action == action).count();
        (
            count(Action::Create),
            count(Action::Update),
            count(Action::Delete),
            count(Action::Unchanged),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_values_never_reach_json() {
        let change = Change::new(
            ResourceKind::Function,
            "hello",
            "s-dev-hello",
            Action::Update,
        )
        .with_fields(vec![
            FieldChange::new(
                "environment.API_TOKEN",
                Some("old-secret"),
                Some("new-secret"),
            )
            .sensitive(),
            FieldChange::new("memorySize", Some(128), Some(256)),
        ]);
        let json = serde_json::to_string(&change).unwrap();
        assert!(!json.contains("secret\""), "{json}");
        assert!(json.contains("(sensitive)"));
        assert!(json.contains("\"old\":\"128\""));
    }

    #[test]
    fn diff_fields_lists_what_differs_and_masks_secrets() {
        let field = |v: &str, secret| (v.to_string(), secret);
        let live = Fields::from([
            ("memorySize".to_string(), field("128", false)),
            ("environment.TOKEN".to_string(), field("a", true)),
            ("timeout".to_string(), field("6", false)),
        ]);
        let desired = Fields::from([
            ("memorySize".to_string(), field("256", false)),
            ("environment.TOKEN".to_string(), field("b", true)),
            ("timeout".to_string(), field("6", false)),
            ("description".to_string(), field("new", false)),
        ]);
        let changes = diff_fields(&live, &desired);
        let names: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(names, ["description", "environment.TOKEN", "memorySize"]);
        assert_eq!(changes[0].old, None);
        assert!(changes[1].sensitive);
        assert_eq!(changes[2].shown_new(), Some("256"));
    }

    #[test]
    fn counts_and_has_changes() {
        let mut plan = Plan {
            provider: "local".into(),
            service: "s".into(),
            stage: "dev".into(),
            region: None,
            changes: vec![Change::new(
                ResourceKind::Function,
                "a",
                "s-dev-a",
                Action::Unchanged,
            )],
        };
        assert!(!plan.has_changes());
        plan.changes.push(Change::new(
            ResourceKind::Function,
            "b",
            "s-dev-b",
            Action::Create,
        ));
        assert!(plan.has_changes());
        assert_eq!(plan.counts(), (1, 0, 0, 1));
    }
}
