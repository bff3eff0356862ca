//! The event types the hub takes from MConnect Events, one JSON Schema each in
//! `contracts/events/<Type>.schema.json`: an event whose type has no contract is refused, and
//! its `data` must pass its type's schema (violations name the place, never the value).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::AdapterError;
use crate::json_schema::{self, Violation};

/// Every event type's contract, by type name.
#[derive(Clone, Default)]
pub struct EventContracts {
    schemas: BTreeMap<String, Arc<jsonschema::Validator>>,
}

/// Why an event's data is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDataError {
    UnknownType,
    Violations(Vec<Violation>),
}

impl EventContracts {
    /// Loads every `<Type>.schema.json` of `folder`; a schema that does not compile or whose
    /// `$id` does not end with its file name refuses the whole set.
    pub fn load(folder: &Path) -> Result<Self, AdapterError> {
        let entries = std::fs::read_dir(folder).map_err(|source| AdapterError::Io {
            path: folder.to_path_buf(),
            source,
        })?;
        let mut schemas = BTreeMap::new();
        for entry in entries {
            let path = entry
                .map_err(|source| AdapterError::Io {
                    path: folder.to_path_buf(),
                    source,
                })?
                .path();
            let Some(event_type) = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(".schema.json"))
            else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(|source| AdapterError::Io {
                path: path.clone(),
                source,
            })?;
            let schema: Value =
                serde_json::from_str(&text).map_err(|error| AdapterError::Syntax {
                    path: path.clone(),
                    message: error.to_string(),
                })?;
            let declared = schema["$id"].as_str().unwrap_or_default();
            if !declared.ends_with(&format!("/{event_type}.schema.json")) {
                return Err(AdapterError::invalid(
                    path,
                    "`$id` must end with the file's name",
                ));
            }
            let validator = json_schema::compile(&schema)
                .map_err(|message| AdapterError::invalid(path.clone(), message))?;
            schemas.insert(event_type.to_string(), Arc::new(validator));
        }
        Ok(Self { schemas })
    }

    pub fn knows(&self, event_type: &str) -> bool {
        self.schemas.contains_key(event_type)
    }

    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.schemas.keys().map(String::as_str)
    }

    /// Checks an event's `data` against its type's schema.
    pub fn check(&self, event_type: &str, data: &Value) -> Result<(), EventDataError> {
        let validator = self
            .schemas
            .get(event_type)
            .ok_or(EventDataError::UnknownType)?;
        json_schema::check(validator, data).map_err(EventDataError::Violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contracts() -> EventContracts {
        EventContracts::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/events"))
            .unwrap()
    }

    #[test]
    fn every_published_event_type_loads() {
        let contracts = contracts();
        assert!(contracts.knows("Gov.Civil.Person.Died"));
        assert!(contracts.knows("Gov.Police.ProtectionOrder.Issued"));
        assert_eq!(contracts.types().count(), 6);
    }

    #[test]
    fn data_is_checked_against_its_type_and_an_unknown_type_is_refused() {
        let contracts = contracts();
        let died =
            json!({"idnp": "2000000000004", "dateOfDeath": "2026-11-30", "actNumber": "D-1"});
        assert_eq!(contracts.check("Gov.Civil.Person.Died", &died), Ok(()));
        let Err(EventDataError::Violations(violations)) =
            contracts.check("Gov.Civil.Person.Died", &json!({"idnp": "2000000000004"}))
        else {
            panic!("missing fields must be refused");
        };
        assert!(!violations.is_empty());
        assert_eq!(
            contracts.check("Gov.Civil.Person.Born", &died),
            Err(EventDataError::UnknownType)
        );
    }
}
