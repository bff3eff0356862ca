//! Declarative mappings between canonical JSON and registry messages: request templates with
//! `{{placeholders}}`, and response maps from paths in the registry's answer to JSON keys.
//!
//! Answers are first turned into a JSON tree (SOAP payloads by `xml_to_tree`, REST answers as
//! they are), so one mapping engine serves both transports.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use esocial_wire::mconnect::xml;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("unclosed `{{{{` in template")]
    Unclosed,
    #[error("unknown placeholder `{{{{{0}}}}}` (use subject.idnp or params.<name>)")]
    UnknownPlaceholder(String),
    #[error("template is not well-formed {format} once filled in: {problem}")]
    NotWellFormed {
        format: &'static str,
        problem: String,
    },
    #[error("no value for `{0}`")]
    MissingValue(String),
    #[error("answer has no `{0}`")]
    MissingRoot(String),
    #[error("response mapping has no fields")]
    NoFields,
    #[error("key `{0}` is not a dotted name of letters and digits")]
    BadKey(String),
    #[error("path `{0}` has an unknown type suffix (use |boolean, |integer or |number)")]
    BadType(String),
    #[error("`{path}` is not a {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
}

/// The syntax a template is written in, which decides how values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateFormat {
    Xml,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(String),
}

/// A request body with `{{subject.idnp}}` and `{{params.<name>}}` placeholders. Values are
/// escaped for the template's format when filled in.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    format: TemplateFormat,
    segments: Vec<Segment>,
}

impl RequestTemplate {
    pub fn compile(text: &str, format: TemplateFormat) -> Result<Self, MappingError> {
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
        let template = Self { format, segments };
        let sample = template.render(|_| Some("0".to_string()))?;
        let problem = match format {
            TemplateFormat::Xml => xml::parse(&sample).err().map(|e| e.to_string()),
            TemplateFormat::Json => serde_json::from_str::<Value>(&sample)
                .err()
                .map(|e| e.to_string()),
        };
        if let Some(problem) = problem {
            return Err(MappingError::NotWellFormed {
                format: match format {
                    TemplateFormat::Xml => "XML",
                    TemplateFormat::Json => "JSON",
                },
                problem,
            });
        }
        Ok(template)
    }

    pub fn format(&self) -> TemplateFormat {
        self.format
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
                    match self.format {
                        TemplateFormat::Xml => out.push_str(&xml::escape(&value)),
                        TemplateFormat::Json => {
                            let quoted = Value::String(value).to_string();
                            out.push_str(&quoted[1..quoted.len() - 1]);
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// What a mapped value becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Text,
    Boolean,
    Integer,
    Number,
    /// `path[]`: every match, as an array of texts.
    TextList,
}

#[derive(Debug, Clone)]
struct FieldRule {
    key: Vec<String>,
    path: Vec<String>,
    kind: ValueKind,
}

#[derive(Debug, Clone)]
struct ListRule {
    key: Vec<String>,
    items: Vec<String>,
    fields: Vec<FieldRule>,
}

/// A list in the canonical answer: where its items are and how each is mapped.
#[derive(Debug, Clone)]
pub struct ListSpec {
    pub items: String,
    pub fields: BTreeMap<String, String>,
}

/// Reads canonical JSON out of a registry answer: a root path, then one path per field, and
/// lists of objects.
#[derive(Debug, Clone)]
pub struct ResponseMapping {
    root: Vec<String>,
    fields: Vec<FieldRule>,
    lists: Vec<ListRule>,
}

fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_key(key: &str) -> Result<Vec<String>, MappingError> {
    let parts: Vec<String> = key.split('.').map(str::to_string).collect();
    let valid = parts
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if valid {
        Ok(parts)
    } else {
        Err(MappingError::BadKey(key.to_string()))
    }
}

fn parse_field(key: &str, path: &str) -> Result<FieldRule, MappingError> {
    let (path_text, kind) = match path.split_once('|') {
        Some((p, "boolean")) => (p, ValueKind::Boolean),
        Some((p, "integer")) => (p, ValueKind::Integer),
        Some((p, "number")) => (p, ValueKind::Number),
        Some(_) => return Err(MappingError::BadType(path.to_string())),
        None => match path.strip_suffix("[]") {
            Some(p) => (p, ValueKind::TextList),
            None => (path, ValueKind::Text),
        },
    };
    Ok(FieldRule {
        key: parse_key(key)?,
        path: split_path(path_text),
        kind,
    })
}

fn parse_fields(fields: &BTreeMap<String, String>) -> Result<Vec<FieldRule>, MappingError> {
    fields.iter().map(|(k, p)| parse_field(k, p)).collect()
}

impl ResponseMapping {
    pub fn new(
        root: &str,
        fields: &BTreeMap<String, String>,
        lists: &BTreeMap<String, ListSpec>,
    ) -> Result<Self, MappingError> {
        if fields.is_empty() && lists.is_empty() {
            return Err(MappingError::NoFields);
        }
        let lists = lists
            .iter()
            .map(|(key, spec)| {
                if spec.fields.is_empty() {
                    return Err(MappingError::NoFields);
                }
                Ok(ListRule {
                    key: parse_key(key)?,
                    items: split_path(&spec.items),
                    fields: parse_fields(&spec.fields)?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            root: split_path(root),
            fields: parse_fields(fields)?,
            lists,
        })
    }

    /// Maps an answer tree to canonical JSON. Absent values are left out and absent lists are
    /// empty; the service's response contract decides whether that is acceptable.
    pub fn apply(&self, tree: &Value) -> Result<Value, MappingError> {
        let root = descend(tree, &self.root)
            .ok_or_else(|| MappingError::MissingRoot(self.root.join("/")))?;
        let mut object = map_fields(root, &self.fields)?;
        for list in &self.lists {
            let items = matches(root, &list.items)
                .into_iter()
                .map(|item| map_fields(item, &list.fields).map(Value::Object))
                .collect::<Result<Vec<_>, _>>()?;
            insert_dotted(&mut object, &list.key, Value::Array(items));
        }
        Ok(Value::Object(object))
    }
}

fn map_fields(node: &Value, fields: &[FieldRule]) -> Result<Map<String, Value>, MappingError> {
    let mut object = Map::new();
    for field in fields {
        if field.kind == ValueKind::TextList {
            let texts = matches(node, &field.path)
                .into_iter()
                .map(|v| scalar_text(v, &field.path))
                .collect::<Result<Vec<_>, _>>()?;
            let texts: Vec<Value> = texts.into_iter().flatten().map(Value::String).collect();
            insert_dotted(&mut object, &field.key, Value::Array(texts));
            continue;
        }
        let Some(value) = descend(node, &field.path) else {
            continue;
        };
        if let Some(converted) = convert(value, field)? {
            insert_dotted(&mut object, &field.key, converted);
        }
    }
    Ok(object)
}

fn scalar_text(value: &Value, path: &[String]) -> Result<Option<String>, MappingError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => {
            let trimmed = text.trim();
            Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
        }
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Array(_) | Value::Object(_) => Err(MappingError::WrongType {
            path: path.join("/"),
            expected: "single value",
        }),
    }
}

fn convert(value: &Value, field: &FieldRule) -> Result<Option<Value>, MappingError> {
    let wrong = |expected| MappingError::WrongType {
        path: field.path.join("/"),
        expected,
    };
    match (field.kind, value) {
        (ValueKind::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(*b))),
        (ValueKind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {
            Ok(Some(Value::Number(n.clone())))
        }
        (ValueKind::Number, Value::Number(n)) => Ok(Some(Value::Number(n.clone()))),
        (kind, other) => {
            let Some(text) = scalar_text(other, &field.path)? else {
                return Ok(None);
            };
            match kind {
                ValueKind::Text | ValueKind::TextList => Ok(Some(Value::String(text))),
                ValueKind::Boolean => match text.as_str() {
                    "true" | "1" => Ok(Some(Value::Bool(true))),
                    "false" | "0" => Ok(Some(Value::Bool(false))),
                    _ => Err(wrong("boolean")),
                },
                ValueKind::Integer => text
                    .parse::<i64>()
                    .map(|n| Some(Value::from(n)))
                    .map_err(|_| wrong("integer")),
                ValueKind::Number => text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(|n| Some(Value::Number(n)))
                    .ok_or_else(|| wrong("number")),
            }
        }
    }
}

/// Follows `path` through objects; an array on the way stands for its first element.
fn descend<'a>(tree: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(tree, |node, step| {
        let node = match node {
            Value::Array(items) => items.first()?,
            other => other,
        };
        node.as_object()?.get(step)
    })
}

/// Every value at `path`: the last step may be repeated (an array) or single.
fn matches<'a>(tree: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let Some((last, parents)) = path.split_last() else {
        return Vec::new();
    };
    let Some(parent) = descend(tree, parents) else {
        return Vec::new();
    };
    let parent = match parent {
        Value::Array(items) => match items.first() {
            Some(first) => first,
            None => return Vec::new(),
        },
        other => other,
    };
    match parent.as_object().and_then(|o| o.get(last)) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
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

/// Turns an XML element into a JSON tree keyed by local names: text-only elements become
/// strings, elements with children become objects, repeated children become arrays.
/// Attributes are ignored. The tree is wrapped in an object under the element's own name, so
/// mapping roots start with the payload element (e.g. `GetPersonDetailsResponse/Person`).
pub fn xml_to_tree(element: roxmltree::Node<'_, '_>) -> Value {
    let mut wrapper = Map::new();
    wrapper.insert(
        element.tag_name().name().to_string(),
        element_to_value(element),
    );
    Value::Object(wrapper)
}

fn element_to_value(element: roxmltree::Node<'_, '_>) -> Value {
    let children: Vec<_> = element.children().filter(|c| c.is_element()).collect();
    if children.is_empty() {
        return Value::String(xml::text_of(element));
    }
    let mut object = Map::new();
    for child in children {
        let name = child.tag_name().name().to_string();
        let value = element_to_value(child);
        match object.get_mut(&name) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                object.insert(name, value);
            }
        }
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn templates_escape_for_their_format_and_refuse_unknown_placeholders() {
        let template =
            RequestTemplate::compile("<q><id>{{subject.idnp}}</id></q>", TemplateFormat::Xml)
                .unwrap();
        let out = template
            .render(|name| (name == "subject.idnp").then(|| "<&>".to_string()))
            .unwrap();
        assert_eq!(out, "<q><id>&lt;&amp;&gt;</id></q>");
        let json = RequestTemplate::compile(r#"{"id": "{{subject.idnp}}"}"#, TemplateFormat::Json)
            .unwrap();
        let out = json.render(|_| Some("a\"b\\".to_string())).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!({"id": "a\"b\\"})
        );
        assert_eq!(
            RequestTemplate::compile("<q>{{subject.name}}</q>", TemplateFormat::Xml).unwrap_err(),
            MappingError::UnknownPlaceholder("subject.name".into())
        );
        assert_eq!(
            RequestTemplate::compile("<q>{{subject.idnp</q>", TemplateFormat::Xml).unwrap_err(),
            MappingError::Unclosed
        );
        assert!(matches!(
            RequestTemplate::compile("<q>{{subject.idnp}}", TemplateFormat::Xml).unwrap_err(),
            MappingError::NotWellFormed { .. }
        ));
        assert!(matches!(
            RequestTemplate::compile(r#"{"id": {{subject.idnp}}"#, TemplateFormat::Json)
                .unwrap_err(),
            MappingError::NotWellFormed { .. }
        ));
    }

    #[test]
    fn xml_answers_map_to_nested_json_with_lists_and_types() {
        let document = xml::parse(
            "<R><IDNP>1</IDNP><Orders><Order><Number>A</Number><Final>true</Final>\
             <Measures><Measure>m1</Measure><Measure>m2</Measure></Measures></Order>\
             <Order><Number>B</Number><Final>false</Final><Measures><Measure>m3</Measure></Measures></Order>\
             </Orders><Address><District>Orhei</District></Address></R>",
        )
        .unwrap();
        let lists = BTreeMap::from([(
            "orders".to_string(),
            ListSpec {
                items: "Orders/Order".into(),
                fields: fields(&[
                    ("number", "Number"),
                    ("final", "Final|boolean"),
                    ("measures", "Measures/Measure[]"),
                ]),
            },
        )]);
        let mapping = ResponseMapping::new(
            "R",
            &fields(&[
                ("idnp", "IDNP"),
                ("address.district", "Address/District"),
                ("x", "Missing"),
            ]),
            &lists,
        )
        .unwrap();

        let value = mapping
            .apply(&xml_to_tree(document.root_element()))
            .unwrap();

        assert_eq!(
            value,
            json!({
                "idnp": "1",
                "address": {"district": "Orhei"},
                "orders": [
                    {"number": "A", "final": true, "measures": ["m1", "m2"]},
                    {"number": "B", "final": false, "measures": ["m3"]}
                ]
            })
        );
    }

    #[test]
    fn empty_or_absent_lists_become_empty_arrays() {
        let lists = BTreeMap::from([(
            "orders".to_string(),
            ListSpec {
                items: "Orders/Order".into(),
                fields: fields(&[("number", "Number")]),
            },
        )]);
        let mapping = ResponseMapping::new("R", &fields(&[("idnp", "IDNP")]), &lists).unwrap();
        for text in ["<R><IDNP>1</IDNP><Orders/></R>", "<R><IDNP>1</IDNP></R>"] {
            let document = xml::parse(text).unwrap();
            let value = mapping
                .apply(&xml_to_tree(document.root_element()))
                .unwrap();
            assert_eq!(value, json!({"idnp": "1", "orders": []}));
        }
    }

    #[test]
    fn list_items_map_nested_objects_both_ways_and_null_objects_are_left_out() {
        let lists = BTreeMap::from([(
            "cases".to_string(),
            ListSpec {
                items: "items".into(),
                fields: fields(&[
                    ("caseId", "caseId"),
                    ("agency.code", "agency/code"),
                    ("caseManager.name", "caseManager/name"),
                    ("caseManager.workPhone", "caseManager/contact/workPhone"),
                    ("amount", "payment/monthly|number"),
                ]),
            },
        )]);
        let mapping = ResponseMapping::new("cases", &fields(&[("idnp", "idnp")]), &lists).unwrap();
        let tree = json!({"cases": {"idnp": "1", "items": [
            {"caseId": "A", "agency": {"code": "DASPF-Orhei"},
             "caseManager": {"name": "M", "contact": {"workPhone": "+37323522145"}},
             "payment": {"monthly": 1234.5}},
            {"caseId": "B", "agency": {"code": "DASPF-Cahul"}, "caseManager": null, "payment": null}
        ]}});

        let value = mapping.apply(&tree).unwrap();

        assert_eq!(
            value,
            json!({"idnp": "1", "cases": [
                {"caseId": "A", "agency": {"code": "DASPF-Orhei"},
                 "caseManager": {"name": "M", "workPhone": "+37323522145"}, "amount": 1234.5},
                {"caseId": "B", "agency": {"code": "DASPF-Cahul"}}
            ]})
        );
    }

    #[test]
    fn json_answers_keep_their_types_and_bad_types_are_errors() {
        let mapping = ResponseMapping::new(
            "enrolment",
            &fields(&[
                ("absences", "absencesThisTerm|integer"),
                ("grade", "grade"),
                ("name", "institution/name"),
            ]),
            &BTreeMap::new(),
        )
        .unwrap();
        let tree = json!({"enrolment": {"absencesThisTerm": 12, "grade": 5, "institution": {"name": "Gimnaziul nr. 5"}}});
        assert_eq!(
            mapping.apply(&tree).unwrap(),
            json!({"absences": 12, "grade": "5", "name": "Gimnaziul nr. 5"})
        );
        let bad = json!({"enrolment": {"absencesThisTerm": "many"}});
        assert!(matches!(
            mapping.apply(&bad),
            Err(MappingError::WrongType { .. })
        ));
        assert!(matches!(
            mapping.apply(&json!({"other": {}})),
            Err(MappingError::MissingRoot(_))
        ));
    }

    #[test]
    fn bad_keys_and_type_suffixes_are_refused() {
        let none = BTreeMap::new();
        assert!(matches!(
            ResponseMapping::new("R", &fields(&[("a-b", "X")]), &BTreeMap::new()),
            Err(MappingError::BadKey(_))
        ));
        assert!(matches!(
            ResponseMapping::new("R", &fields(&[("a", "X|date")]), &BTreeMap::new()),
            Err(MappingError::BadType(_))
        ));
        assert!(matches!(
            ResponseMapping::new("R", &none, &BTreeMap::new()),
            Err(MappingError::NoFields)
        ));
    }
}
