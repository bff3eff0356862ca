//! Reading and checking one `adapters/<registry>/adapter.toml`, and decoding that registry's
//! answers with its mappings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::contract::{ContractPart, ServiceContract};
use super::mapping::{ListSpec, MappingError, RequestTemplate, ResponseMapping, TemplateFormat};
use crate::json_schema::Violation;
use esocial_wire::mconnect::envelope;

#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}`: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("`{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl AdapterError {
    pub fn invalid(path: PathBuf, message: impl Into<String>) -> Self {
        Self::Invalid {
            path,
            message: message.into(),
        }
    }
}

/// How a registry is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// MConnect SOAP 1.1 with WS-Security.
    Soap,
    /// MConnect REST with JWS RS256 bodies and answers.
    Rest,
}

#[derive(Debug, Clone)]
pub struct Registry {
    pub name: String,
    pub title: String,
    pub transport: Transport,
    pub endpoint: String,
    pub timeout: Duration,
    /// Common name the registry's signing certificate must carry; answers signed by any other
    /// trusted certificate are refused.
    pub signer: Option<String>,
    /// Calls in flight at once ([`DEFAULT_MAX_IN_FLIGHT`] unless the settings say otherwise).
    pub max_in_flight: usize,
    /// Largest answer read from the registry, in bytes: a longer one is refused before it is
    /// read whole ([`DEFAULT_MAX_ANSWER_BYTES`] unless the adapter or the settings say
    /// otherwise).
    pub max_answer_bytes: usize,
}

/// Largest registry answer read, unless the adapter's `registry.max_answer_bytes` or the
/// settings' `registries.<name>.max_answer_bytes` say otherwise.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The range `max_answer_bytes` may take: from 64 KiB to the largest message the registries'
/// simulators and the hub sign (64 MiB).
pub const MAX_ANSWER_BYTES_RANGE: std::ops::RangeInclusive<usize> =
    64 * 1024..=esocial_wire::crypto::MAX_SIGNED_BYTES;

/// Why a `max_answer_bytes` outside [`MAX_ANSWER_BYTES_RANGE`] is refused.
pub fn max_answer_bytes_problem() -> String {
    format!(
        "must be between {} and {}",
        MAX_ANSWER_BYTES_RANGE.start(),
        MAX_ANSWER_BYTES_RANGE.end()
    )
}

/// Calls to one registry in flight at once, unless `registries.<name>.max_in_flight` says
/// otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// Where a service lives on its registry.
#[derive(Debug, Clone)]
pub enum Operation {
    Soap { soap_action: String },
    Rest { path: String },
}

/// One service of a registry: how to ask, how to read the answer, and its contract.
#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub registry: String,
    pub title: String,
    pub sensitive: bool,
    pub operation: Operation,
    pub request: RequestTemplate,
    pub response: ResponseMapping,
    /// Registry fault codes mapped to the hub's stable codes.
    pub faults: BTreeMap<String, String>,
    pub contract: ServiceContract,
}

/// Why a registry answer did not give canonical data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryFailure {
    SubjectNotFound,
    Rejected(String),
    Unavailable(String),
    Fault(String),
    Invalid(String),
    ContractViolation(Vec<Violation>),
}

impl RegistryFailure {
    /// The hub's stable code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SubjectNotFound => "caller.subject_not_found",
            Self::Rejected(_) => "caller.rejected_by_registry",
            Self::Unavailable(_) => "registry.unavailable",
            Self::Fault(_) => "registry.fault",
            Self::Invalid(_) => "registry.invalid_response",
            Self::ContractViolation(_) => "registry.result_invalid",
        }
    }
}

impl Service {
    /// Maps a registry error code through the fault map; unmapped client-side codes are
    /// rejections, anything else a registry fault.
    fn failure(&self, registry_code: &str, blames_caller: bool) -> RegistryFailure {
        match self.faults.get(registry_code).map(String::as_str) {
            Some("caller.subject_not_found") => RegistryFailure::SubjectNotFound,
            Some("caller.rejected_by_registry") => {
                RegistryFailure::Rejected(registry_code.to_string())
            }
            Some("registry.unavailable") => RegistryFailure::Unavailable(registry_code.to_string()),
            Some(_) => RegistryFailure::Fault(registry_code.to_string()),
            None if blames_caller => RegistryFailure::Rejected(registry_code.to_string()),
            None => RegistryFailure::Fault(registry_code.to_string()),
        }
    }

    fn finish(&self, tree: &Value) -> Result<Value, RegistryFailure> {
        let data = self
            .response
            .apply(tree)
            .map_err(|error| RegistryFailure::Invalid(error.to_string()))?;
        self.contract
            .validate(ContractPart::Response, &data)
            .map_err(RegistryFailure::ContractViolation)?;
        Ok(data)
    }

    /// Decodes the payload element of a SOAP answer body (an answer or a Fault).
    pub fn decode_soap(&self, payload: roxmltree::Node<'_, '_>) -> Result<Value, RegistryFailure> {
        if let Some(fault) = envelope::fault_of(payload) {
            return Err(self.failure(&fault.code, fault.is_client_fault()));
        }
        self.finish(&super::mapping::xml_to_tree(payload))
    }

    /// Decodes the signed payload of a REST answer: `{"response": …}` or `{"error": {"code"}}`.
    pub fn decode_rest(&self, payload: &Value) -> Result<Value, RegistryFailure> {
        if let Some(error) = payload.get("error") {
            let code = error
                .get("code")
                .and_then(Value::as_str)
                .ok_or_else(|| RegistryFailure::Invalid("error without a code".into()))?;
            let blames_caller = code.starts_with("INVALID") || code.ends_with("NOT_FOUND");
            return Err(self.failure(code, blames_caller));
        }
        let response = payload.get("response").ok_or_else(|| {
            RegistryFailure::Invalid("answer has neither response nor error".into())
        })?;
        self.finish(response)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdapterFile {
    registry: RegistryFile,
    #[serde(default)]
    services: Vec<ServiceFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    name: String,
    title: String,
    transport: Transport,
    endpoint: String,
    timeout_ms: u64,
    #[serde(default)]
    signer: Option<String>,
    #[serde(default)]
    max_answer_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    id: String,
    title: String,
    #[serde(default)]
    sensitive: bool,
    soap_action: Option<String>,
    path: Option<String>,
    request_template: String,
    response: ResponseFile,
    #[serde(default)]
    faults: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseFile {
    root: String,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    #[serde(default)]
    lists: BTreeMap<String, ListFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListFile {
    items: String,
    fields: BTreeMap<String, String>,
}

/// Hub codes a registry fault may be mapped to.
pub const MAPPABLE_FAULT_CODES: &[&str] = &[
    "caller.subject_not_found",
    "caller.rejected_by_registry",
    "registry.fault",
    "registry.unavailable",
];

pub(super) fn load_folder(
    folder: &Path,
    contracts: &Path,
) -> Result<(Registry, Vec<Service>), AdapterError> {
    let path = folder.join("adapter.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| AdapterError::Io {
        path: path.clone(),
        source,
    })?;
    let file: AdapterFile = toml::from_str(&text).map_err(|error| AdapterError::Syntax {
        path: path.clone(),
        message: error.to_string(),
    })?;
    let folder_name = folder
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if file.registry.name != folder_name {
        return Err(AdapterError::invalid(
            path,
            format!(
                "registry.name `{}` must equal the folder name `{folder_name}`",
                file.registry.name
            ),
        ));
    }
    if !file.registry.endpoint.starts_with("https://") {
        return Err(AdapterError::invalid(
            path,
            "registry.endpoint must be an https:// URL",
        ));
    }
    if !(10..=120_000).contains(&file.registry.timeout_ms) {
        return Err(AdapterError::invalid(
            path,
            "registry.timeout_ms must be between 10 and 120000",
        ));
    }
    if file
        .registry
        .max_answer_bytes
        .is_some_and(|limit| !MAX_ANSWER_BYTES_RANGE.contains(&limit))
    {
        return Err(AdapterError::invalid(
            path,
            format!("registry.max_answer_bytes {}", max_answer_bytes_problem()),
        ));
    }
    if file.services.is_empty() {
        return Err(AdapterError::invalid(path, "no [[services]] defined"));
    }
    let registry = Registry {
        name: file.registry.name.clone(),
        title: file.registry.title,
        transport: file.registry.transport,
        endpoint: file.registry.endpoint,
        timeout: Duration::from_millis(file.registry.timeout_ms),
        signer: file.registry.signer,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        max_answer_bytes: file
            .registry
            .max_answer_bytes
            .unwrap_or(DEFAULT_MAX_ANSWER_BYTES),
    };
    let mut services = Vec::new();
    for (index, service) in file.services.into_iter().enumerate() {
        let context = |message: String| {
            AdapterError::invalid(path.clone(), format!("services[{index}]: {message}"))
        };
        if !service.id.starts_with(&format!("{}.", registry.name)) {
            return Err(context(format!(
                "id `{}` must start with `{}.`",
                service.id, registry.name
            )));
        }
        let operation = match (registry.transport, service.soap_action, service.path) {
            (Transport::Soap, Some(soap_action), None) => Operation::Soap { soap_action },
            (Transport::Rest, None, Some(path)) if path.starts_with('/') => {
                Operation::Rest { path }
            }
            (Transport::Soap, _, _) => {
                return Err(context(
                    "a soap service needs soap_action and no path".into(),
                ));
            }
            (Transport::Rest, _, _) => {
                return Err(context(
                    "a rest service needs a path starting with / and no soap_action".into(),
                ));
            }
        };
        let template_path = folder.join(&service.request_template);
        let format = match template_path.extension().and_then(|e| e.to_str()) {
            Some("xml") if registry.transport == Transport::Soap => TemplateFormat::Xml,
            Some("json") if registry.transport == Transport::Rest => TemplateFormat::Json,
            _ => {
                return Err(context(format!(
                    "request_template `{}` must be .xml for soap or .json for rest",
                    service.request_template
                )));
            }
        };
        let template_text =
            std::fs::read_to_string(&template_path).map_err(|source| AdapterError::Io {
                path: template_path.clone(),
                source,
            })?;
        let request =
            RequestTemplate::compile(&template_text, format).map_err(|error: MappingError| {
                AdapterError::invalid(template_path.clone(), error.to_string())
            })?;
        let lists = service
            .response
            .lists
            .into_iter()
            .map(|(key, list)| {
                (
                    key,
                    ListSpec {
                        items: list.items,
                        fields: list.fields,
                    },
                )
            })
            .collect();
        let response =
            ResponseMapping::new(&service.response.root, &service.response.fields, &lists)
                .map_err(|error| context(format!("response: {error}")))?;
        for (registry_code, hub_code) in &service.faults {
            if !MAPPABLE_FAULT_CODES.contains(&hub_code.as_str()) {
                return Err(context(format!(
                    "faults.\"{registry_code}\" maps to unknown hub code `{hub_code}` (one of {MAPPABLE_FAULT_CODES:?})"
                )));
            }
        }
        let contract = ServiceContract::load(
            contracts,
            &service.id,
            Some((&registry.name, registry.transport)),
        )?;
        services.push(Service {
            id: service.id,
            registry: registry.name.clone(),
            title: service.title,
            sensitive: service.sensitive,
            operation,
            request,
            response,
            faults: service.faults,
            contract,
        });
    }
    Ok((registry, services))
}
