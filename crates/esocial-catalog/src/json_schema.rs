//! JSON Schema checks whose messages name where a document is wrong, never the value found
//! there, so they are safe to return and to log.

use serde::Serialize;
use serde_json::Value;

/// One way a document breaks its schema. The message never repeats the offending value, so it
/// is safe to return and to log even when the value is personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub pointer: String,
    pub message: String,
}

/// Compiles a JSON Schema (draft 2020-12 unless it says otherwise), checking formats.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|error| error.to_string())
}

/// Every violation of `instance` against `validator`, masked so values never leak.
pub fn check(validator: &jsonschema::Validator, instance: &Value) -> Result<(), Vec<Violation>> {
    let violations: Vec<Violation> = validator
        .iter_errors(instance)
        .map(|error| Violation {
            pointer: error.instance_path().to_string(),
            message: error.masked().to_string(),
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}
