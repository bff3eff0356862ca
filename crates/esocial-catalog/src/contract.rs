//! Published contracts of a service (`contracts/services/<id>/`): the JSON Schemas of its
//! canonical request and response, and the registry-side WSDL or OpenAPI document.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::adapter::{AdapterError, Transport};
use crate::json_schema::Violation;

/// The registry's own description of its wire format.
#[derive(Debug, Clone)]
pub struct WireContract {
    /// `wsdl` or `openapi`.
    pub kind: &'static str,
    pub document: String,
}

#[derive(Clone)]
pub struct ServiceContract {
    pub request_schema: Value,
    pub response_schema: Value,
    request: Arc<jsonschema::Validator>,
    response: Arc<jsonschema::Validator>,
    pub wire: Option<WireContract>,
}

impl std::fmt::Debug for ServiceContract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceContract").finish_non_exhaustive()
    }
}

/// Which half of a contract a document is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractPart {
    Request,
    Response,
}

fn read_schema(path: &Path) -> Result<(Value, jsonschema::Validator), AdapterError> {
    let text = std::fs::read_to_string(path).map_err(|source| AdapterError::Io {
        path: path.to_owned(),
        source,
    })?;
    let schema: Value = serde_json::from_str(&text).map_err(|error| AdapterError::Syntax {
        path: path.to_owned(),
        message: error.to_string(),
    })?;
    let validator = crate::json_schema::compile(&schema)
        .map_err(|message| AdapterError::invalid(path.to_owned(), message))?;
    Ok((schema, validator))
}

impl ServiceContract {
    /// Loads `contracts/services/<id>/{request,response}.schema.json` and, for a registry
    /// service, `contracts/registries/<registry>.wsdl` or `.openapi.json`.
    pub fn load(
        contracts: &Path,
        service_id: &str,
        registry: Option<(&str, Transport)>,
    ) -> Result<Self, AdapterError> {
        let folder = contracts.join("services").join(service_id);
        let (request_schema, request) = read_schema(&folder.join("request.schema.json"))?;
        let (response_schema, response) = read_schema(&folder.join("response.schema.json"))?;
        let wire = match registry {
            None => None,
            Some((name, transport)) => {
                let (kind, file): (&'static str, PathBuf) = match transport {
                    Transport::Soap => (
                        "wsdl",
                        contracts.join("registries").join(format!("{name}.wsdl")),
                    ),
                    Transport::Rest => (
                        "openapi",
                        contracts
                            .join("registries")
                            .join(format!("{name}.openapi.json")),
                    ),
                };
                let document = std::fs::read_to_string(&file)
                    .map_err(|source| AdapterError::Io { path: file, source })?;
                Some(WireContract { kind, document })
            }
        };
        Ok(Self {
            request_schema,
            response_schema,
            request: Arc::new(request),
            response: Arc::new(response),
            wire,
        })
    }

    pub fn validate(&self, part: ContractPart, document: &Value) -> Result<(), Vec<Violation>> {
        let validator = match part {
            ContractPart::Request => &self.request,
            ContractPart::Response => &self.response,
        };
        crate::json_schema::check(validator, document)
    }
}
