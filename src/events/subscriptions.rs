//! Subscriptions: which events matter, for whose open cases, at what priority, and what the
//! case manager and the modules are told. One TOML file each in `subscriptions/` (see its
//! README), checked at load: every error names the file and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use esocial_catalog::events::EventContracts;
use esocial_wire::domain::text::has_words;

/// Placeholders a notification's texts may use.
pub const PLACEHOLDERS: [&str; 3] = ["caseLink", "caseId", "priority"];

/// Whose open cases a subscription asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Whose {
    /// The person the event is about.
    Subject,
    /// The subject's children, as the population register knows them.
    Children,
    /// The persons the event's `data.protectedPersons` names.
    ProtectedPersons,
}

/// MNotify's priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Priority {
    Low,
    Medium,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
        }
    }
}

/// A text in Romanian (required) and Russian (optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub ro: String,
    pub ru: Option<String>,
}

impl Texts {
    fn each(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.ro.as_str()).chain(self.ru.as_deref())
    }

    /// The texts as MNotify takes them: `{"ro": …, "ru": …}`, placeholders left for it.
    pub fn to_value(&self) -> Value {
        let mut value = serde_json::json!({ "ro": self.ro });
        if let Some(ru) = &self.ru {
            value["ru"] = Value::from(ru.as_str());
        }
        value
    }
}

/// What the case manager is told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    pub subject: Texts,
    pub body: Texts,
    pub short_body: Option<Texts>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub id: String,
    pub title: String,
    pub event_types: Vec<String>,
    pub cases_of: Vec<Whose>,
    /// Case types that matter; every type when empty.
    #[serde(default)]
    pub case_types: Vec<String>,
    /// Top-level fields of the event's `data` and the values that make it matter.
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    pub priority: Priority,
    pub legal_basis: String,
    pub reason: String,
    /// Modules (`[[events.modules]]`) sent a webhook for each alert.
    #[serde(default)]
    pub modules: Vec<String>,
    pub notification: Option<Notification>,
}

impl Subscription {
    /// Whether an event of `event_type` with `data` matters to this subscription.
    pub fn matches(&self, event_type: &str, data: &Value) -> bool {
        self.event_types.iter().any(|t| t == event_type)
            && self.when.iter().all(|(field, accepted)| {
                data.get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|value| accepted.iter().any(|a| a == value))
            })
    }

    /// Whether a case of `case_type` matters to this subscription.
    pub fn covers_case(&self, case_type: &str) -> bool {
        self.case_types.is_empty() || self.case_types.iter().any(|t| t == case_type)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Every subscription, by id.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions {
    by_id: BTreeMap<String, Subscription>,
}

impl Subscriptions {
    /// Loads every `*.toml` of `folder`, checking each against the event contracts.
    pub fn load(folder: &Path, contracts: &EventContracts) -> Result<Self, SubscriptionError> {
        let io = |source| SubscriptionError::Io {
            path: folder.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
            .map_err(io)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        paths.retain(|path| path.extension().is_some_and(|e| e == "toml"));
        paths.sort();
        let mut by_id = BTreeMap::new();
        for path in paths {
            let invalid = |message: String| SubscriptionError::Invalid {
                path: path.clone(),
                message,
            };
            let text = std::fs::read_to_string(&path).map_err(|source| SubscriptionError::Io {
                path: path.clone(),
                source,
            })?;
            let subscription: Subscription =
                toml::from_str(&text).map_err(|error| invalid(error.to_string()))?;
            check(&subscription, contracts).map_err(invalid)?;
            if by_id.contains_key(&subscription.id) {
                return Err(invalid(format!(
                    "`id`: another file already has id `{}`",
                    subscription.id
                )));
            }
            by_id.insert(subscription.id.clone(), subscription);
        }
        Ok(Self { by_id })
    }

    /// The subscriptions an event matters to.
    pub fn matching<'a>(
        &'a self,
        event_type: &'a str,
        data: &'a Value,
    ) -> impl Iterator<Item = &'a Subscription> + 'a {
        self.by_id
            .values()
            .filter(move |subscription| subscription.matches(event_type, data))
    }

    pub fn all(&self) -> impl Iterator<Item = &Subscription> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

fn check(subscription: &Subscription, contracts: &EventContracts) -> Result<(), String> {
    let id_ok = !subscription.id.is_empty()
        && subscription
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id_ok {
        return Err("`id` must be lower-case letters, digits and hyphens".into());
    }
    if subscription.event_types.is_empty() {
        return Err("`event_types` must name at least one event type".into());
    }
    if let Some(unknown) = subscription
        .event_types
        .iter()
        .find(|event_type| !contracts.knows(event_type))
    {
        return Err(format!(
            "`event_types`: `{unknown}` has no contract in contracts/events"
        ));
    }
    if subscription.cases_of.is_empty() {
        return Err("`cases_of` must name whose cases to ask about".into());
    }
    if !has_words(&subscription.legal_basis) || !has_words(&subscription.reason) {
        return Err("`legal_basis` and `reason` must be stated in words".into());
    }
    if subscription.notification.is_none() && subscription.modules.is_empty() {
        return Err("a subscription must notify someone: give `notification` or `modules`".into());
    }
    if let Some(notification) = &subscription.notification {
        let texts = [
            ("notification.subject", &notification.subject),
            ("notification.body", &notification.body),
        ]
        .into_iter()
        .chain(
            notification
                .short_body
                .as_ref()
                .map(|short| ("notification.short_body", short)),
        );
        for (key, text) in texts {
            if text.ro.trim().is_empty() {
                return Err(format!("`{key}.ro`: the Romanian text is required"));
            }
            for language in text.each() {
                if let Some(unknown) = placeholders(language)
                    .into_iter()
                    .find(|name| !PLACEHOLDERS.contains(&name.as_str()))
                {
                    return Err(format!(
                        "`{key}`: unknown placeholder `{{{{{unknown}}}}}` (known: {})",
                        PLACEHOLDERS.join(", ")
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The names of the `{{name}}` placeholders in `text`.
fn placeholders(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        names.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contracts() -> EventContracts {
        EventContracts::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/events"))
            .unwrap()
    }

    #[test]
    fn the_published_subscriptions_load() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("subscriptions");
        let subscriptions = Subscriptions::load(&folder, &contracts()).unwrap();
        assert_eq!(subscriptions.len(), 7);
        let data = json!({"reason": "dropout"});
        let matching: Vec<_> = subscriptions
            .matching("Gov.Education.Enrolment.Ended", &data)
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(matching, ["enrolment-ended"]);
        let graduated = json!({"reason": "graduation"});
        assert_eq!(
            subscriptions
                .matching("Gov.Education.Enrolment.Ended", &graduated)
                .count(),
            0
        );
    }

    #[test]
    fn a_bad_subscription_is_refused_naming_the_key() {
        let folder = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            std::fs::write(folder.path().join("s.toml"), text).unwrap();
            Subscriptions::load(folder.path(), &contracts())
                .unwrap_err()
                .to_string()
        };
        let base = r#"
id = "s"
title = "t"
event_types = ["Gov.Civil.Person.Died"]
cases_of = ["subject"]
priority = "Low"
legal_basis = "Legea nr. 133/2008, art. 18"
reason = "Informarea managerului de caz"
"#;
        let error = write(&format!(
            "{base}[notification]\nsubject = {{ ro = \"S\" }}\nbody = {{ ro = \"{{{{name}}}}\" }}\n"
        ));
        assert!(error.contains("unknown placeholder `{{name}}`"), "{error}");
        let error = write(&base.replace("Gov.Civil.Person.Died", "Gov.Civil.Person.Born"));
        assert!(error.contains("`event_types`"), "{error}");
        let error = write(base);
        assert!(error.contains("must notify someone"), "{error}");
    }
}
