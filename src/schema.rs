//! The canonical JSON Schemas in `schemas/`, compiled once and embedded in the binary.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use esocial_catalog::json_schema::{Violation, check, compile};
use serde_json::Value;

/// Every schema shipped in `schemas/`, by name (the file name without `.schema.json`).
const SOURCES: &[(&str, &str)] = &[
    (
        "exchange-request",
        include_str!("../schemas/exchange-request.schema.json"),
    ),
    (
        "exchange-result",
        include_str!("../schemas/exchange-result.schema.json"),
    ),
    ("error", include_str!("../schemas/error.schema.json")),
    ("person", include_str!("../schemas/person.schema.json")),
];

static COMPILED: LazyLock<BTreeMap<&'static str, jsonschema::Validator>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(name, source)| {
            let schema: Value = serde_json::from_str(source)
                .unwrap_or_else(|error| panic!("schemas/{name}.schema.json is not JSON: {error}"));
            let validator = compile(&schema)
                .unwrap_or_else(|error| panic!("schemas/{name}.schema.json is invalid: {error}"));
            (*name, validator)
        })
        .collect()
});

/// Checks `instance` against the named schema and returns every violation.
pub fn validate(name: &str, instance: &Value) -> Result<(), Vec<Violation>> {
    let Some(validator) = COMPILED.get(name) else {
        return Err(vec![Violation {
            pointer: String::new(),
            message: format!("no schema named `{name}`"),
        }]);
    };
    check(validator, instance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_schema_compiles() {
        assert_eq!(COMPILED.len(), SOURCES.len());
    }

    #[test]
    fn violations_name_the_pointer_and_hide_the_value() {
        let request = json!({
            "service": "civil.person-details",
            "subject": {"idnp": "20000000000AB"},
            "purpose": {"legalBasis": "Legea 123", "reason": "evaluare"},
            "caller": {"userIdnp": "2000000000004"}
        });
        let violations = validate("exchange-request", &request).unwrap_err();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].pointer, "/subject/idnp");
        assert!(!violations[0].message.contains("20000000000AB"));
    }
}
