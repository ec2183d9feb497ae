//! Event triggers: `event: {eventType, resource}` (as Serverless' Google plugin writes it) →
//! the `eventTrigger` of a 2nd gen function, for Pub/Sub and Cloud Storage.
//!
//! The 1st gen event types the plugin's examples use are mapped to their Eventarc (v2) types:
//! `providers/cloud.pubsub/eventTypes/topic.publish` and `google.pubsub.topic.publish` →
//! `google.cloud.pubsub.topic.v1.messagePublished` with `pubsubTopic`;
//! `google.storage.object.finalize` / `.delete` / `.archive` / `.metadataUpdate` (and the legacy
//! `providers/cloud.storage/eventTypes/object.change`, as `finalize`) →
//! `google.cloud.storage.object.v1.finalized` / `deleted` / `archived` / `metadataUpdated` with a
//! `bucket` event filter. The v2 types themselves are accepted as written. A resource may be
//! `projects/{project|*|_}/topics/{topic}` / `projects/{_|*}/buckets/{bucket}` or the bare topic /
//! bucket name; `*` and a bare topic mean the deploy's own project.

use serde_json::{Value as Json, json};

use crate::model::{Event, Function};

/// The v2 type of a Pub/Sub message.
pub const PUBSUB_PUBLISHED: &str = "google.cloud.pubsub.topic.v1.messagePublished";
/// The prefix of the v2 Cloud Storage object event types.
pub const STORAGE_PREFIX: &str = "google.cloud.storage.object.v1.";

/// The event types stratus maps, for messages.
const SUPPORTED: &str = "Pub/Sub (providers/cloud.pubsub/eventTypes/topic.publish, \
google.pubsub.topic.publish, google.cloud.pubsub.topic.v1.messagePublished) and Cloud Storage \
(google.storage.object.finalize|delete|archive|metadataUpdate, \
google.cloud.storage.object.v1.finalized|deleted|archived|metadataUpdated)";

/// What a trigger listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The v2 event type.
    pub event_type: String,
    /// `projects/{p}/topics/{t}` for Pub/Sub, the bucket name for Cloud Storage.
    pub resource: String,
}

impl Trigger {
    /// The `eventTrigger` of the v2 API.
    pub fn body(&self) -> Json {
        if self.event_type == PUBSUB_PUBLISHED {
            json!({"eventType": self.event_type, "pubsubTopic": self.resource})
        } else {
            json!({
                "eventType": self.event_type,
                "eventFilters": [{"attribute": "bucket", "value": self.resource}],
            })
        }
    }

    /// What a live `eventTrigger` listens to.
    pub fn from_live(trigger: &Json) -> Option<Trigger> {
        let event_type = trigger.get("eventType")?.as_str()?.to_string();
        let resource = match trigger.get("pubsubTopic").and_then(Json::as_str) {
            Some(topic) if event_type == PUBSUB_PUBLISHED => topic.to_string(),
            _ => trigger
                .get("eventFilters")?
                .as_array()?
                .iter()
                .find(|f| f.get("attribute").and_then(Json::as_str) == Some("bucket"))?
                .get("value")?
                .as_str()?
                .to_string(),
        };
        Some(Trigger {
            event_type,
            resource,
        })
    }
}

/// A CloudEvent for `stratus invoke` on an event function, in binary content mode (`ce-*`
/// headers, JSON body) as Eventarc delivers it, so the handler runs as it would for a real
/// message or upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeEvent {
    /// `ce-*` headers.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
}

impl Trigger {
    /// The CloudEvent `stratus invoke --data PAYLOAD` sends: for Pub/Sub, PAYLOAD (as text) is
    /// the message's data; for Cloud Storage, PAYLOAD is the object's metadata (`name`, `size`...;
    /// `bucket` defaults to the trigger's). `id` and `time` identify the call.
    pub fn invoke_event(&self, payload: &str, id: &str, time: &str) -> InvokeEvent {
        use base64::Engine;
        let mut headers = vec![
            ("ce-specversion".to_string(), "1.0".to_string()),
            ("ce-id".to_string(), id.to_string()),
            ("ce-type".to_string(), self.event_type.clone()),
            ("ce-time".to_string(), time.to_string()),
        ];
        let body = if self.event_type == PUBSUB_PUBLISHED {
            headers.push((
                "ce-source".to_string(),
                format!("//pubsub.googleapis.com/{}", self.resource),
            ));
            json!({
                "message": {
                    "data": base64::engine::general_purpose::STANDARD.encode(payload),
                    "messageId": id,
                    "publishTime": time,
                    "attributes": {},
                },
                "subscription": format!("{}-stratus-invoke", self.resource.replace("/topics/", "/subscriptions/")),
            })
        } else {
            let mut object = match serde_json::from_str::<Json>(payload) {
                Ok(Json::Object(object)) => object,
                _ => serde_json::Map::new(),
            };
            object
                .entry("bucket")
                .or_insert_with(|| Json::String(self.resource.clone()));
            object
                .entry("kind")
                .or_insert_with(|| Json::String("storage#object".to_string()));
            let bucket = object["bucket"]
                .as_str()
                .unwrap_or(&self.resource)
                .to_string();
            headers.push((
                "ce-source".to_string(),
                format!("//storage.googleapis.com/projects/_/buckets/{bucket}"),
            ));
            if let Some(name) = object.get("name").and_then(Json::as_str) {
                headers.push(("ce-subject".to_string(), format!("objects/{name}")));
            }
            Json::Object(object)
        };
        InvokeEvent {
            headers,
            body: body.to_string(),
        }
    }
}

/// The `event` events of `function` (index in `events`, configuration).
pub fn event_configs(function: &Function) -> Vec<(usize, &Json)> {
    function
        .events
        .iter()
        .enumerate()
        .filter_map(|(index, event)| match event {
            Event::Other { kind, config } if kind == "event" => Some((index, config)),
            _ => None,
        })
        .collect()
}

fn v2_storage_type(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "google.storage.object.finalize"
        | "providers/cloud.storage/eventTypes/object.change"
        | "google.cloud.storage.object.v1.finalized" => "finalized",
        "google.storage.object.delete" | "google.cloud.storage.object.v1.deleted" => "deleted",
        "google.storage.object.archive" | "google.cloud.storage.object.v1.archived" => "archived",
        "google.storage.object.metadataUpdate"
        | "google.cloud.storage.object.v1.metadataUpdated" => "metadataUpdated",
        _ => return None,
    })
}

fn valid_topic(topic: &str) -> bool {
    (3..=255).contains(&topic.len())
        && topic.starts_with(|c: char| c.is_ascii_alphabetic())
        && !topic.starts_with("goog")
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c))
}

fn valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && bucket.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// The trigger of one `event` configuration in `project`, or what is wrong with it.
pub fn trigger(config: &Json, project: &str) -> Result<Trigger, String> {
    let text = |key: &str| config.get(key).and_then(Json::as_str).map(str::trim);
    let Some(event_type) = text("eventType").filter(|t| !t.is_empty()) else {
        return Err("an `event` needs `eventType` (e.g. google.pubsub.topic.publish)".into());
    };
    let Some(resource) = text("resource").filter(|r| !r.is_empty()) else {
        return Err(format!(
            "event `{event_type}` needs `resource` (a topic or bucket, e.g. projects/*/topics/my-topic)"
        ));
    };
    let parts: Vec<&str> = resource.split('/').collect();
    if matches!(
        event_type,
        "providers/cloud.pubsub/eventTypes/topic.publish"
            | "google.pubsub.topic.publish"
            | PUBSUB_PUBLISHED
    ) {
        let (owner, topic) = match parts.as_slice() {
            [topic] => (project, *topic),
            ["projects", "*" | "_", "topics", topic] => (project, *topic),
            ["projects", owner, "topics", topic] => (*owner, *topic),
            _ => {
                return Err(format!(
                    "resource `{resource}` is not a Pub/Sub topic (projects/PROJECT/topics/TOPIC, projects/*/topics/TOPIC or TOPIC)"
                ));
            }
        };
        if !valid_topic(topic) {
            return Err(format!(
                "`{topic}` is not a valid Pub/Sub topic id (3-255 characters of [A-Za-z0-9-_.~+%], starting with a letter, not with `goog`)"
            ));
        }
        return Ok(Trigger {
            event_type: PUBSUB_PUBLISHED.into(),
            resource: format!("projects/{owner}/topics/{topic}"),
        });
    }
    if let Some(kind) = v2_storage_type(event_type) {
        let bucket = match parts.as_slice() {
            [bucket] => *bucket,
            ["projects", "_" | "*", "buckets", bucket] => *bucket,
            _ => {
                return Err(format!(
                    "resource `{resource}` is not a Cloud Storage bucket (projects/_/buckets/BUCKET or BUCKET)"
                ));
            }
        };
        if !valid_bucket(bucket) {
            return Err(format!(
                "`{bucket}` is not a valid bucket name (3-63 characters of [a-z0-9-_.], starting and ending with a letter or digit)"
            ));
        }
        return Ok(Trigger {
            event_type: format!("{STORAGE_PREFIX}{kind}"),
            resource: bucket.to_string(),
        });
    }
    Err(format!(
        "event type `{event_type}` is not supported on Cloud Functions by stratus; it maps {SUPPORTED}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, resource: &str) -> Json {
        json!({"eventType": event_type, "resource": resource})
    }

    #[test]
    fn gen1_and_v2_spellings_map_to_eventarc_triggers() {
        for (event_type, resource, want) in [
            (
                "providers/cloud.pubsub/eventTypes/topic.publish",
                "projects/*/topics/my-topic",
                "projects/p/topics/my-topic",
            ),
            (
                "google.pubsub.topic.publish",
                "my-topic",
                "projects/p/topics/my-topic",
            ),
            (
                PUBSUB_PUBLISHED,
                "projects/other/topics/t-1",
                "projects/other/topics/t-1",
            ),
        ] {
            let trigger = trigger(&event(event_type, resource), "p").unwrap();
            assert_eq!(trigger.event_type, PUBSUB_PUBLISHED);
            assert_eq!(trigger.resource, want);
            assert_eq!(trigger.body()["pubsubTopic"], want);
            assert_eq!(Trigger::from_live(&trigger.body()), Some(trigger));
        }
        let storage = trigger(
            &event(
                "google.storage.object.finalize",
                "projects/_/buckets/uploads",
            ),
            "p",
        )
        .unwrap();
        assert_eq!(
            storage.event_type,
            "google.cloud.storage.object.v1.finalized"
        );
        assert_eq!(
            storage.body()["eventFilters"],
            json!([{"attribute": "bucket", "value": "uploads"}])
        );
        assert_eq!(Trigger::from_live(&storage.body()), Some(storage));
        let deleted = trigger(&event("google.cloud.storage.object.v1.deleted", "b-1"), "p");
        assert_eq!(
            deleted.unwrap().event_type,
            "google.cloud.storage.object.v1.deleted"
        );
    }

    #[test]
    fn bad_events_say_what_is_wrong() {
        let unknown = trigger(&event("google.firestore.document.write", "x"), "p").unwrap_err();
        assert!(
            unknown.contains("not supported") && unknown.contains("Pub/Sub"),
            "{unknown}"
        );
        let topic = trigger(&event("google.pubsub.topic.publish", "goog-x"), "p").unwrap_err();
        assert!(topic.contains("not a valid Pub/Sub topic"), "{topic}");
        let bucket =
            trigger(&event("google.storage.object.delete", "Bad_Bucket!"), "p").unwrap_err();
        assert!(bucket.contains("not a valid bucket"), "{bucket}");
        let missing = trigger(&json!({"eventType": "google.pubsub.topic.publish"}), "p");
        assert!(missing.unwrap_err().contains("needs `resource`"));
        assert!(trigger(&json!({}), "p").unwrap_err().contains("eventType"));
    }
}
