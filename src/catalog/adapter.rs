//! Reading and checking one `adapters/<registry>/adapter.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::mapping::{MappingError, RequestTemplate, ResponseMapping};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// MConnect SOAP 1.1 with WS-Security.
    Soap,
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
}

/// One service of a registry: how to ask and how to read the answer.
#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub registry: String,
    pub title: String,
    pub soap_action: String,
    pub request: RequestTemplate,
    pub response: ResponseMapping,
    /// Name of the schema in `schemas/` that the canonical answer must satisfy.
    pub data_schema: String,
    /// Registry fault codes mapped to the hub's stable codes.
    pub faults: BTreeMap<String, String>,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    id: String,
    title: String,
    soap_action: String,
    request_template: String,
    response: ResponseFile,
    #[serde(default)]
    faults: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseFile {
    root: String,
    schema: String,
    fields: BTreeMap<String, String>,
}

/// Hub codes a registry fault may be mapped to.
pub const MAPPABLE_FAULT_CODES: &[&str] = &[
    "caller.subject_not_found",
    "caller.rejected_by_registry",
    "registry.fault",
    "registry.unavailable",
];

pub(super) fn load_folder(folder: &Path) -> Result<(Registry, Vec<Service>), AdapterError> {
    let path = folder.join("adapter.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| AdapterError::Io {
        path: path.clone(),
        source,
    })?;
    let file: AdapterFile = toml_from_str(&text).map_err(|message| AdapterError::Syntax {
        path: path.clone(),
        message,
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
        let template_path = folder.join(&service.request_template);
        let template_text =
            std::fs::read_to_string(&template_path).map_err(|source| AdapterError::Io {
                path: template_path.clone(),
                source,
            })?;
        let request = RequestTemplate::compile(&template_text).map_err(|error: MappingError| {
            AdapterError::invalid(template_path.clone(), error.to_string())
        })?;
        let response = ResponseMapping::new(&service.response.root, service.response.fields)
            .map_err(|error| context(error.to_string()))?;
        if crate::schema::data_schema(&service.response.schema).is_none() {
            return Err(context(format!(
                "response.schema `{}` is not a schema in schemas/",
                service.response.schema
            )));
        }
        for (registry_code, hub_code) in &service.faults {
            if !MAPPABLE_FAULT_CODES.contains(&hub_code.as_str()) {
                return Err(context(format!(
                    "faults.{registry_code} maps to unknown hub code `{hub_code}` (one of {MAPPABLE_FAULT_CODES:?})"
                )));
            }
        }
        services.push(Service {
            id: service.id,
            registry: registry.name.clone(),
            title: service.title,
            soap_action: service.soap_action,
            request,
            response,
            data_schema: service.response.schema,
            faults: service.faults,
        });
    }
    Ok((registry, services))
}

/// Parses TOML; the error message carries the line and column.
fn toml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|error| error.to_string())
}
