//! Canonical JSON to and from the SOAP payloads of eSocial's MConnect services: an object key
//! becomes an element in PascalCase (`idnp` is `IDNP`), a list `xs` a wrapper `Xs` holding one
//! `X` per item.

use serde_json::{Map, Value};

use esocial_wire::mconnect::xml;

/// The namespace of eSocial's MConnect payloads.
pub const ES_NS: &str = "https://esocial.gov.md/mconnect/v1";

/// The element name of a JSON key.
fn element_name(key: &str) -> String {
    if key == "idnp" {
        return "IDNP".into();
    }
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The JSON key of an element name.
fn key_name(element: &str) -> String {
    if element == "IDNP" {
        return "idnp".into();
    }
    let mut chars = element.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The item element of a list element (`Cases` holds `Case`).
fn singular(list: &str) -> &str {
    list.strip_suffix('s').unwrap_or(list)
}

/// `<es:{root}>…</es:{root}>` for a canonical answer object.
pub fn to_xml(root: &str, value: &Value) -> String {
    let mut out = format!(r#"<es:{root} xmlns:es="{ES_NS}">"#);
    if let Value::Object(map) = value {
        write_object(map, &mut out);
    }
    out.push_str(&format!("</es:{root}>"));
    out
}

fn write_object(map: &Map<String, Value>, out: &mut String) {
    for (key, value) in map {
        write_value(&element_name(key), value, out);
    }
}

fn write_value(name: &str, value: &Value, out: &mut String) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            out.push_str(&format!("<es:{name}>"));
            for item in items {
                write_value(singular(name), item, out);
            }
            out.push_str(&format!("</es:{name}>"));
        }
        Value::Object(map) => {
            out.push_str(&format!("<es:{name}>"));
            write_object(map, out);
            out.push_str(&format!("</es:{name}>"));
        }
        Value::String(text) => {
            out.push_str(&format!("<es:{name}>{}</es:{name}>", xml::escape(text)))
        }
        other => out.push_str(&format!("<es:{name}>{other}</es:{name}>")),
    }
}

/// Why a request payload cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("the payload element must be in the {ES_NS} namespace")]
    WrongNamespace,
    #[error("`{0}` may appear only once")]
    Repeated(String),
    #[error("`{0}` must hold text only")]
    NotText(String),
}

/// The flat canonical request of a request payload: each child element's text under its key.
pub fn request_fields(payload: roxmltree::Node<'_, '_>) -> Result<Value, PayloadError> {
    if payload.tag_name().namespace() != Some(ES_NS) {
        return Err(PayloadError::WrongNamespace);
    }
    let mut fields = Map::new();
    for child in payload.children().filter(|c| c.is_element()) {
        let name = child.tag_name().name();
        if child.tag_name().namespace() != Some(ES_NS) {
            return Err(PayloadError::WrongNamespace);
        }
        if child.children().any(|c| c.is_element()) {
            return Err(PayloadError::NotText(name.to_string()));
        }
        let key = key_name(name);
        if fields
            .insert(key, Value::String(xml::text_of(child)))
            .is_some()
        {
            return Err(PayloadError::Repeated(name.to_string()));
        }
    }
    Ok(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_render_with_the_naming_rule() {
        let text = to_xml(
            "GetActiveCasesResponse",
            &json!({"idnp": "2000000000004", "hasActiveCase": true,
                "cases": [{"type": "child_protection", "caseManager": {"workPhone": "+373 <1>"}}]}),
        );
        assert!(text.contains("<es:IDNP>2000000000004</es:IDNP>"));
        assert!(text.contains("<es:HasActiveCase>true</es:HasActiveCase>"));
        assert!(text.contains(
            "<es:Cases><es:Case><es:CaseManager><es:WorkPhone>+373 &lt;1&gt;</es:WorkPhone></es:CaseManager><es:Type>child_protection</es:Type></es:Case></es:Cases>"
        ), "{text}");
        xml::parse(&text).unwrap();
    }

    #[test]
    fn requests_read_back_to_canonical_keys() {
        let text = format!(
            r#"<es:NotifyCaseRelevantEventRequest xmlns:es="{ES_NS}"><es:IDNP>2000000000004</es:IDNP><es:EventType>police.callout</es:EventType></es:NotifyCaseRelevantEventRequest>"#
        );
        let document = xml::parse(&text).unwrap();
        let fields = request_fields(document.root_element()).unwrap();
        assert_eq!(
            fields,
            json!({"idnp": "2000000000004", "eventType": "police.callout"})
        );
        let twice = text.replace(
            "</es:NotifyCaseRelevantEventRequest>",
            "<es:IDNP>2000000000015</es:IDNP></es:NotifyCaseRelevantEventRequest>",
        );
        let document = xml::parse(&twice).unwrap();
        assert!(matches!(
            request_fields(document.root_element()),
            Err(PayloadError::Repeated(_))
        ));
    }
}
