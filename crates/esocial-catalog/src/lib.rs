//! The service catalog: registries and their services, loaded from `adapters/<registry>/`,
//! their contracts from `contracts/`, and the composite services of `adapters/composites.toml`.
//!
//! Adapters are data. Loading checks everything (mappings compile, contracts exist and compile,
//! every fixture passes) and refuses a broken adapter, naming the file.

mod access;
mod adapter;
mod contract;
pub mod events;
pub mod fixtures;
pub mod json_schema;
mod mapping;

pub use access::{AccessMatrix, Grant, released_fields};
pub use adapter::{
    AdapterError, DEFAULT_MAX_ANSWER_BYTES, MAX_ANSWER_BYTES_RANGE, Operation, Registry,
    RegistryFailure, Service, Transport, max_answer_bytes_problem,
};
pub use contract::{ContractPart, ServiceContract, WireContract};
pub use mapping::{MappingError, RequestTemplate, ResponseMapping, TemplateFormat, xml_to_tree};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A service that asks several registry services at once about one subject.
#[derive(Debug, Clone)]
pub struct Composite {
    pub id: String,
    pub title: String,
    pub services: Vec<String>,
    /// Overall deadline: parts still running then are reported as timed out.
    pub deadline: Duration,
    pub contract: ServiceContract,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompositesFile {
    #[serde(default)]
    composites: Vec<CompositeFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompositeFile {
    id: String,
    title: String,
    services: Vec<String>,
    deadline_ms: u64,
}

/// All registries and services the hub can route to.
#[derive(Debug, Clone)]
pub struct Catalog {
    registries: BTreeMap<String, Registry>,
    folders: BTreeMap<String, PathBuf>,
    services: BTreeMap<String, Service>,
    composites: BTreeMap<String, Composite>,
    fixture_cases: usize,
}

/// A catalog entry as discovery shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceSummary {
    pub id: String,
    pub registry: String,
    pub title: String,
    pub transport: &'static str,
    pub sensitive: bool,
}

impl Catalog {
    /// Loads every sub-folder of `adapters` that holds an `adapter.toml`, with contracts from
    /// `contracts`, and checks every fixture.
    pub fn load(adapters: &Path, contracts: &Path) -> Result<Self, AdapterError> {
        let mut registries = BTreeMap::new();
        let mut folders = BTreeMap::new();
        let mut services = BTreeMap::new();
        let mut fixture_cases = 0;
        let entries = std::fs::read_dir(adapters).map_err(|source| AdapterError::Io {
            path: adapters.to_owned(),
            source,
        })?;
        let mut adapter_folders: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.join("adapter.toml").is_file())
            .collect();
        adapter_folders.sort();
        for folder in adapter_folders {
            let (registry, registry_services) = adapter::load_folder(&folder, contracts)?;
            for service in registry_services {
                if services.contains_key(&service.id) {
                    return Err(AdapterError::invalid(
                        folder.join("adapter.toml"),
                        format!("service `{}` is defined twice", service.id),
                    ));
                }
                fixture_cases += fixtures::check_service(&folder, &service)?;
                services.insert(service.id.clone(), service);
            }
            folders.insert(registry.name.clone(), folder);
            registries.insert(registry.name.clone(), registry);
        }
        if registries.is_empty() {
            return Err(AdapterError::invalid(
                adapters.to_owned(),
                "no adapter folders (each needs an adapter.toml)",
            ));
        }
        let composites = load_composites(adapters, contracts, &services)?;
        Ok(Self {
            registries,
            folders,
            services,
            composites,
            fixture_cases,
        })
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.get(id)
    }

    pub fn composite(&self, id: &str) -> Option<&Composite> {
        self.composites.get(id)
    }

    pub fn registry(&self, name: &str) -> Option<&Registry> {
        self.registries.get(name)
    }

    /// The adapter folder of a registry (fixtures live there).
    pub fn folder(&self, registry: &str) -> Option<&Path> {
        self.folders.get(registry).map(PathBuf::as_path)
    }

    pub fn registries(&self) -> impl Iterator<Item = &Registry> {
        self.registries.values()
    }

    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    /// How many fixture cases were checked while loading.
    pub fn fixture_cases(&self) -> usize {
        self.fixture_cases
    }

    /// The contract of a registry service or a composite.
    pub fn contract(&self, id: &str) -> Option<&ServiceContract> {
        self.services
            .get(id)
            .map(|s| &s.contract)
            .or_else(|| self.composites.get(id).map(|c| &c.contract))
    }

    /// Every service, registry and composite, as discovery lists them.
    pub fn summaries(&self) -> Vec<ServiceSummary> {
        let mut all: Vec<ServiceSummary> = self
            .services
            .values()
            .map(|service| ServiceSummary {
                id: service.id.clone(),
                registry: service.registry.clone(),
                title: service.title.clone(),
                transport: match service.operation {
                    Operation::Soap { .. } => "soap",
                    Operation::Rest { .. } => "rest",
                },
                sensitive: service.sensitive,
            })
            .collect();
        all.extend(self.composites.values().map(|composite| {
            ServiceSummary {
                id: composite.id.clone(),
                registry: "hub".into(),
                title: composite.title.clone(),
                transport: "composite",
                sensitive: composite
                    .services
                    .iter()
                    .any(|s| self.services.get(s).is_some_and(|s| s.sensitive)),
            }
        }));
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Applies what the settings say of a registry over what its adapter file says. False when
    /// no adapter defines the registry.
    pub fn override_registry(&mut self, name: &str, settings: &RegistrySettings) -> bool {
        let Some(registry) = self.registries.get_mut(name) else {
            return false;
        };
        if let Some(endpoint) = &settings.endpoint {
            registry.endpoint = endpoint.clone();
        }
        if let Some(timeout) = settings.timeout {
            registry.timeout = timeout;
        }
        if let Some(limit) = settings.max_in_flight {
            registry.max_in_flight = limit;
        }
        if let Some(limit) = settings.max_answer_bytes {
            registry.max_answer_bytes = limit;
        }
        true
    }
}

/// What a deployment may set of a registry over its adapter file.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings {
    pub endpoint: Option<String>,
    pub timeout: Option<Duration>,
    pub max_in_flight: Option<usize>,
    pub max_answer_bytes: Option<usize>,
}

fn load_composites(
    adapters: &Path,
    contracts: &Path,
    services: &BTreeMap<String, Service>,
) -> Result<BTreeMap<String, Composite>, AdapterError> {
    let path = adapters.join("composites.toml");
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    let text = std::fs::read_to_string(&path).map_err(|source| AdapterError::Io {
        path: path.clone(),
        source,
    })?;
    let file: CompositesFile = toml::from_str(&text).map_err(|error| AdapterError::Syntax {
        path: path.clone(),
        message: error.to_string(),
    })?;
    let mut composites = BTreeMap::new();
    for (index, composite) in file.composites.into_iter().enumerate() {
        let context = |message: String| {
            AdapterError::invalid(path.clone(), format!("composites[{index}]: {message}"))
        };
        if services.contains_key(&composite.id) || composites.contains_key(&composite.id) {
            return Err(context(format!("id `{}` is already taken", composite.id)));
        }
        if composite.services.is_empty() {
            return Err(context("services must not be empty".into()));
        }
        for part in &composite.services {
            if !services.contains_key(part) {
                return Err(context(format!("unknown service `{part}`")));
            }
        }
        if !(100..=120_000).contains(&composite.deadline_ms) {
            return Err(context("deadline_ms must be between 100 and 120000".into()));
        }
        let contract = ServiceContract::load(contracts, &composite.id, None)?;
        composites.insert(
            composite.id.clone(),
            Composite {
                id: composite.id,
                title: composite.title,
                services: composite.services,
                deadline: Duration::from_millis(composite.deadline_ms),
                contract,
            },
        );
    }
    Ok(composites)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace root, which holds `adapters/` and `contracts/`.
    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn the_shipped_adapters_load_with_their_contracts_and_fixtures() {
        let catalog = Catalog::load(&root().join("adapters"), &root().join("contracts")).unwrap();
        let service = catalog.service("civil.person-details").unwrap();
        assert_eq!(service.registry, "civil");
        assert_eq!(
            catalog.registry("civil").unwrap().transport,
            Transport::Soap
        );
        assert_eq!(
            catalog.registry("health").unwrap().transport,
            Transport::Rest
        );
        assert!(catalog.fixture_cases() >= catalog.services().count());
        assert!(catalog.composite("profile.social").is_some());
    }

    #[test]
    fn an_empty_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = Catalog::load(dir.path(), dir.path()).unwrap_err();
        assert!(error.to_string().contains("no adapter folders"), "{error}");
    }
}
