//! Declarative mappings between canonical JSON and registry messages: request templates with
//! `{{placeholders}}`, and response field maps from XML paths to JSON keys.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::mconnect::xml;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("unclosed `{{{{` in template")]
    Unclosed,
    #[error("unknown placeholder `{{{{{0}}}}}` (use subject.idnp or params.<name>)")]
    UnknownPlaceholder(String),
    #[error("template is not well-formed XML once filled in: {0}")]
    NotXml(String),
    #[error("no value for `{0}`")]
    MissingValue(String),
    #[error("answer has no `{0}` element")]
    MissingRoot(String),
    #[error("field map is empty")]
    NoFields,
    #[error("field key `{0}` is not a dotted name of letters and digits")]
    BadKey(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(String),
}

/// An XML request body with `{{subject.idnp}}` and `{{params.<name>}}` placeholders. Values
/// are XML-escaped when filled in.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    segments: Vec<Segment>,
}

impl RequestTemplate {
    pub fn compile(text: &str) -> Result<Self, MappingError> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                segments.push(Segment::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or(MappingError::Unclosed)?;
            let name = after[..end].trim().to_string();
            let known = name == "subject.idnp"
                || name
                    .strip_prefix("params.")
                    .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
            if !known {
                return Err(MappingError::UnknownPlaceholder(name));
            }
            segments.push(Segment::Placeholder(name));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_string()));
        }
        let template = Self { segments };
        let sample = template.render(|_| Some("0".to_string()))?;
        xml::parse(&sample).map_err(|error| MappingError::NotXml(error.to_string()))?;
        Ok(template)
    }

    /// Fills the placeholders; `value_of` gets the placeholder name and returns unescaped text.
    pub fn render(
        &self,
        value_of: impl Fn(&str) -> Option<String>,
    ) -> Result<String, MappingError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder(name) => {
                    let value =
                        value_of(name).ok_or_else(|| MappingError::MissingValue(name.clone()))?;
                    out.push_str(&xml::escape(&value));
                }
            }
        }
        Ok(out)
    }
}

/// Reads canonical JSON out of a registry answer: a root path, then one XML path per field.
#[derive(Debug, Clone)]
pub struct ResponseMapping {
    root: Vec<String>,
    fields: Vec<(Vec<String>, String)>,
}

impl ResponseMapping {
    pub fn new(root: &str, fields: BTreeMap<String, String>) -> Result<Self, MappingError> {
        if fields.is_empty() {
            return Err(MappingError::NoFields);
        }
        let mut compiled = Vec::new();
        for (key, path) in fields {
            let parts: Vec<String> = key.split('.').map(str::to_string).collect();
            let valid = parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
            if !valid {
                return Err(MappingError::BadKey(key));
            }
            compiled.push((parts, path));
        }
        Ok(Self {
            root: root
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            fields: compiled,
        })
    }

    /// Maps the body payload element to canonical JSON. Absent elements are left out; the
    /// data schema decides whether that is acceptable.
    pub fn apply(&self, payload: roxmltree::Node<'_, '_>) -> Result<Value, MappingError> {
        let root_path = self.root.join("/");
        let (first, rest) = self
            .root
            .split_first()
            .ok_or_else(|| MappingError::MissingRoot(root_path.clone()))?;
        if payload.tag_name().name() != first {
            return Err(MappingError::MissingRoot(root_path));
        }
        let root = xml::descend(payload, &rest.join("/"))
            .ok_or_else(|| MappingError::MissingRoot(root_path.clone()))?;
        let mut object = Map::new();
        for (key, path) in &self.fields {
            let Some(node) = xml::descend(root, path) else {
                continue;
            };
            let text = xml::text_of(node);
            if text.is_empty() {
                continue;
            }
            insert_dotted(&mut object, key, Value::String(text));
        }
        Ok(Value::Object(object))
    }
}

fn insert_dotted(object: &mut Map<String, Value>, key: &[String], value: Value) {
    match key {
        [] => {}
        [last] => {
            object.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = object
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                insert_dotted(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_escapes_values_and_refuses_unknown_placeholders() {
        let template = RequestTemplate::compile("<q><id>{{subject.idnp}}</id></q>").unwrap();
        let out = template
            .render(|name| (name == "subject.idnp").then(|| "<&>".to_string()))
            .unwrap();
        assert_eq!(out, "<q><id>&lt;&amp;&gt;</id></q>");
        assert_eq!(
            RequestTemplate::compile("<q>{{subject.name}}</q>").unwrap_err(),
            MappingError::UnknownPlaceholder("subject.name".into())
        );
        assert_eq!(
            RequestTemplate::compile("<q>{{subject.idnp</q>").unwrap_err(),
            MappingError::Unclosed
        );
        assert!(matches!(
            RequestTemplate::compile("<q>{{subject.idnp}}").unwrap_err(),
            MappingError::NotXml(_)
        ));
    }

    #[test]
    fn response_mapping_builds_nested_json() {
        let fields = BTreeMap::from([
            ("firstName".to_string(), "FirstName".to_string()),
            (
                "address.district".to_string(),
                "Address/District".to_string(),
            ),
            ("patronymic".to_string(), "Patronymic".to_string()),
        ]);
        let mapping = ResponseMapping::new("R/Person", fields).unwrap();
        let document = xml::parse(
            "<R><Person><FirstName>Ana</FirstName><Address><District>Orhei</District></Address></Person></R>",
        )
        .unwrap();
        let value = mapping.apply(document.root_element()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"firstName": "Ana", "address": {"district": "Orhei"}})
        );
        let wrong = xml::parse("<Other/>").unwrap();
        assert!(matches!(
            mapping.apply(wrong.root_element()),
            Err(MappingError::MissingRoot(_))
        ));
    }
}
