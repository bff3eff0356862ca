//! The access matrix: which client may call which service, and which fields of the answer it
//! may see. Deny by default.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A (client, service) grant, optionally limited to some fields of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client: String,
    pub service: String,
    /// Dotted field paths the client may see (`address.district`); `None` means all.
    pub fields: Option<Vec<String>>,
}

impl Grant {
    /// Removes every field of `data` the grant does not cover.
    pub fn filter(&self, data: Value) -> Value {
        match &self.fields {
            None => data,
            Some(fields) => {
                let paths: Vec<Vec<&str>> = fields.iter().map(|f| f.split('.').collect()).collect();
                keep(data, &paths).unwrap_or_else(|| Value::Object(Map::new()))
            }
        }
    }
}

/// The parts of `value` the paths reach; `None` when a path goes below a plain value, which
/// is then not what was granted.
fn keep(value: Value, paths: &[Vec<&str>]) -> Option<Value> {
    let object = match value {
        Value::Object(object) => object,
        // A path into a list applies to each of its items.
        Value::Array(items) => {
            return Some(Value::Array(
                items
                    .into_iter()
                    .filter_map(|item| keep(item, paths))
                    .collect(),
            ));
        }
        _ => return None,
    };
    let mut kept = Map::new();
    for (key, inner) in object {
        let matching: Vec<Vec<&str>> = paths
            .iter()
            .filter(|p| p.first() == Some(&key.as_str()))
            .map(|p| p[1..].to_vec())
            .collect();
        if matching.is_empty() {
            continue;
        }
        if matching.iter().any(Vec::is_empty) {
            kept.insert(key, inner);
        } else if let Some(inner) = keep(inner, &matching) {
            kept.insert(key, inner);
        }
    }
    Some(Value::Object(kept))
}

/// Grants by (client, service). Anything not granted is refused.
#[derive(Debug, Clone, Default)]
pub struct AccessMatrix {
    grants: BTreeMap<(String, String), Grant>,
}

impl AccessMatrix {
    pub fn new(grants: impl IntoIterator<Item = Grant>) -> Self {
        Self {
            grants: grants
                .into_iter()
                .map(|g| ((g.client.clone(), g.service.clone()), g))
                .collect(),
        }
    }

    pub fn grant(&self, client: &str, service: &str) -> Option<&Grant> {
        self.grants.get(&(client.to_string(), service.to_string()))
    }

    /// Every grant of `client`.
    pub fn grants_of<'a>(&'a self, client: &'a str) -> impl Iterator<Item = &'a Grant> + 'a {
        self.grants.values().filter(move |g| g.client == client)
    }
}

/// The dotted paths of the leaves an answer carries (list items share their list's path).
pub fn released_fields(answer: &Value) -> Vec<String> {
    fn walk(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => walk_object(map, prefix, out),
            Value::Array(items) => {
                if items.is_empty() && !prefix.is_empty() {
                    out.push(prefix.to_string());
                }
                for item in items {
                    walk(item, prefix, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    fn walk_object(map: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
        for (key, value) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            walk(value, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(answer, "", &mut out);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(client: &str, service: &str, fields: Option<&[&str]>) -> Grant {
        Grant {
            client: client.into(),
            service: service.into(),
            fields: fields.map(|f| f.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn denies_by_default_and_allows_exact_grants() {
        let matrix = AccessMatrix::new([grant("case-management", "civil.person-details", None)]);
        assert!(
            matrix
                .grant("case-management", "civil.person-details")
                .is_some()
        );
        assert!(matrix.grant("benefits", "civil.person-details").is_none());
        assert!(
            matrix
                .grant("case-management", "civil.family-relations")
                .is_none()
        );
        assert!(
            AccessMatrix::default()
                .grant("case-management", "civil.person-details")
                .is_none()
        );
    }

    #[test]
    fn field_limits_remove_everything_not_granted() {
        let limited = grant(
            "benefits",
            "civil.person-details",
            Some(&["idnp", "status", "address.district"]),
        );
        let data = json!({
            "idnp": "1", "firstName": "Ana", "status": "alive",
            "address": {"district": "Orhei", "street": "str. Păcii"}
        });
        assert_eq!(
            limited.filter(data.clone()),
            json!({"idnp": "1", "status": "alive", "address": {"district": "Orhei"}})
        );
        let full = grant("case-management", "civil.person-details", None);
        assert_eq!(full.filter(data.clone()), data);
    }

    #[test]
    fn field_limits_apply_to_every_item_of_a_list() {
        let limited = grant("police", "x", Some(&["orders.number"]));
        let data = json!({"orders": [
            {"number": "1", "measures": ["a"]},
            {"number": "2", "notes": "secret"}
        ], "notes": "secret"});
        assert_eq!(
            limited.filter(data),
            json!({"orders": [{"number": "1"}, {"number": "2"}]})
        );
        // A path that goes below a plain value does not release the value.
        let deep = grant("police", "x", Some(&["notes.text"]));
        assert_eq!(deep.filter(json!({"notes": "secret"})), json!({}));
    }
}
