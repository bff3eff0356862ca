//! The service catalog: registries and their services, loaded from `adapters/<registry>/`.
//!
//! Adapters are data. Each folder holds an `adapter.toml` (endpoint, transport, timeouts,
//! services, response and fault mappings) and the request templates it names. Loading checks
//! everything and refuses a broken adapter, naming the file.

mod access;
mod adapter;
mod mapping;

pub use access::AccessMatrix;
pub use adapter::{AdapterError, Registry, Service, Transport};
pub use mapping::{MappingError, RequestTemplate, ResponseMapping};

use std::collections::BTreeMap;
use std::path::Path;

/// All registries and services the hub can route to.
#[derive(Debug, Clone)]
pub struct Catalog {
    registries: BTreeMap<String, Registry>,
    services: BTreeMap<String, Service>,
}

impl Catalog {
    /// Loads every sub-folder of `dir` that holds an `adapter.toml`.
    pub fn load(dir: &Path) -> Result<Self, AdapterError> {
        let mut registries = BTreeMap::new();
        let mut services = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|source| AdapterError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut folders: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.join("adapter.toml").is_file())
            .collect();
        folders.sort();
        for folder in folders {
            let (registry, registry_services) = adapter::load_folder(&folder)?;
            for service in registry_services {
                if services.contains_key(&service.id) {
                    return Err(AdapterError::invalid(
                        folder.join("adapter.toml"),
                        format!("service `{}` is defined twice", service.id),
                    ));
                }
                services.insert(service.id.clone(), service);
            }
            registries.insert(registry.name.clone(), registry);
        }
        if registries.is_empty() {
            return Err(AdapterError::invalid(
                dir.to_owned(),
                "no adapter folders (each needs an adapter.toml)",
            ));
        }
        Ok(Self {
            registries,
            services,
        })
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.get(id)
    }

    pub fn registry(&self, name: &str) -> Option<&Registry> {
        self.registries.get(name)
    }

    pub fn registries(&self) -> impl Iterator<Item = &Registry> {
        self.registries.values()
    }

    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    /// Applies a configured endpoint or timeout over what the adapter file says.
    pub fn override_registry(
        &mut self,
        name: &str,
        endpoint: Option<&str>,
        timeout: Option<std::time::Duration>,
    ) -> bool {
        let Some(registry) = self.registries.get_mut(name) else {
            return false;
        };
        if let Some(endpoint) = endpoint {
            registry.endpoint = endpoint.to_string();
        }
        if let Some(timeout) = timeout {
            registry.timeout = timeout;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_adapters() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters")
    }

    #[test]
    fn the_shipped_adapters_load() {
        let catalog = Catalog::load(&shipped_adapters()).unwrap();
        let service = catalog.service("civil.person-details").unwrap();
        assert_eq!(service.registry, "civil");
        assert_eq!(
            catalog.registry("civil").unwrap().transport,
            Transport::Soap
        );
    }

    #[test]
    fn an_empty_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = Catalog::load(dir.path()).unwrap_err();
        assert!(error.to_string().contains("no adapter folders"), "{error}");
    }
}
