//! The access matrix: which client may call which service. Deny by default.

use std::collections::BTreeSet;

/// Grants of (client, service). Anything not granted is refused.
#[derive(Debug, Clone, Default)]
pub struct AccessMatrix {
    grants: BTreeSet<(String, String)>,
}

impl AccessMatrix {
    pub fn new(grants: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            grants: grants.into_iter().collect(),
        }
    }

    pub fn allows(&self, client: &str, service: &str) -> bool {
        self.grants
            .contains(&(client.to_string(), service.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::AccessMatrix;

    #[test]
    fn denies_by_default_and_allows_exact_grants() {
        let matrix = AccessMatrix::new([("case-management".into(), "civil.person-details".into())]);
        assert!(matrix.allows("case-management", "civil.person-details"));
        assert!(!matrix.allows("benefits", "civil.person-details"));
        assert!(!matrix.allows("case-management", "civil.family"));
        assert!(!AccessMatrix::default().allows("case-management", "civil.person-details"));
    }
}
