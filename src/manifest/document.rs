//! The resolved manifest as a document for `print`: JSON (CloudFormation's long form for
//! short tags), YAML (short tags kept), and selection of a sub-tree by dotted path.

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use serde_yaml_ng::value::{Tag, TaggedValue};

use super::Document;
use super::variables::node_at;
use super::yaml::{Node, Value};

impl Document {
    /// As JSON (a tagged value `!Ref x` becomes `{"Ref": "x"}`, as CloudFormation's JSON form).
    pub fn to_json(&self) -> Json {
        to_json(&self.root)
    }

    /// As YAML text, tags kept.
    pub fn to_yaml(&self) -> String {
        // Serializing a `serde_yaml_ng::Value` built from plain data cannot fail.
        serde_yaml_ng::to_string(&to_yaml(&self.root)).unwrap_or_default()
    }

    /// The sub-tree at a dotted path (`provider.environment`, `functions.hello.events.0`).
    pub fn select(&self, path: &str) -> Option<Document> {
        let segments: Vec<String> = if path.trim().is_empty() {
            Vec::new()
        } else {
            path.split('.').map(str::to_string).collect()
        };
        node_at(&self.root, &segments).map(|node| Document { root: node.clone() })
    }

    /// The tree itself.
    pub fn root(&self) -> &Node {
        &self.root
    }
}

/// A node as JSON; tags become CloudFormation's long form.
pub(crate) fn to_json(node: &Node) -> Json {
    let plain = match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(f.to_string())),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), to_json(&e.value)))
                .collect(),
        ),
    };
    match node.tag.as_deref() {
        None => plain,
        Some(tag) => {
            let (name, value) = long_form(tag, plain);
            let mut object = serde_json::Map::new();
            object.insert(name, value);
            Json::Object(object)
        }
    }
}

/// CloudFormation's long form of a short tag: `Ref`, `Condition`, else `Fn::<Tag>`;
/// `!GetAtt a.b` becomes `["a", "b"]`.
fn long_form(tag: &str, value: Json) -> (String, Json) {
    match tag {
        "Ref" | "Condition" => (tag.to_string(), value),
        "GetAtt" => {
            let value = match value {
                Json::String(s) => match s.split_once('.') {
                    Some((resource, attribute)) => Json::Array(vec![
                        Json::String(resource.to_string()),
                        Json::String(attribute.to_string()),
                    ]),
                    None => Json::String(s),
                },
                other => other,
            };
            ("Fn::GetAtt".into(), value)
        }
        other => (format!("Fn::{other}"), value),
    }
}

/// A node as a YAML value, tags kept.
fn to_yaml(node: &Node) -> Yaml {
    let plain = match &node.value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Bool(*b),
        Value::Int(i) => Yaml::Number((*i).into()),
        Value::Float(f) => Yaml::Number((*f).into()),
        Value::Str(s) => Yaml::String(s.clone()),
        Value::Seq(items) => Yaml::Sequence(items.iter().map(to_yaml).collect()),
        Value::Map(entries) => Yaml::Mapping(
            entries
                .iter()
                .map(|e| (Yaml::String(e.key.clone()), to_yaml(&e.value)))
                .collect(),
        ),
    };
    match node.tag.as_deref() {
        Some(tag) if !tag.is_empty() => Yaml::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value: plain,
        })),
        _ => plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml::parse;

    fn document(text: &str) -> Document {
        Document {
            root: parse(text, 0).expect("valid YAML"),
        }
    }

    #[test]
    fn json_uses_cloudformation_long_forms() {
        let doc = document(
            "a: !Ref Bucket\nb: !GetAtt Fn.Arn\nc: !Join ['', [x, y]]\nd: !Sub '${AWS::Region}'\n",
        );
        assert_eq!(
            doc.to_json(),
            serde_json::json!({
                "a": {"Ref": "Bucket"},
                "b": {"Fn::GetAtt": ["Fn", "Arn"]},
                "c": {"Fn::Join": ["", ["x", "y"]]},
                "d": {"Fn::Sub": "${AWS::Region}"},
            })
        );
    }

    #[test]
    fn yaml_keeps_tags_and_select_walks_lists() {
        let doc = document("a:\n  b: [1, !Ref X]\n  c: text\n");
        let yaml = doc.to_yaml();
        assert!(yaml.contains("!Ref X"), "{yaml}");
        let selected = doc.select("a.b.1").expect("present");
        assert_eq!(selected.to_json(), serde_json::json!({"Ref": "X"}));
        assert_eq!(
            doc.select("a.c").map(|d| d.to_json()),
            Some(Json::from("text"))
        );
        assert!(doc.select("a.missing").is_none());
        assert!(doc.select("").is_some());
    }
}
