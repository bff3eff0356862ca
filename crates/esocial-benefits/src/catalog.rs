//! The catalog as data: `catalog.toml` (the rule set's version and the life situations),
//! `parameters.toml` (figures several benefits use) and one folder per benefit with its
//! `benefit.toml`: the info sheet in Romanian and Russian, the legal basis, the dated
//! parameters with their sources, and the rules. Loading checks everything a rule depends on,
//! compiles every expression, and hashes the files so that an estimate names the exact rule set
//! it came from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::Date;
use time::macros::format_description;

use crate::facts;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid catalog file: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A text in both languages of the catalog.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub ro: String,
    pub ru: String,
}

/// A life situation that groups benefits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Situation {
    pub id: String,
    pub ro: String,
    pub ru: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    version: String,
    situation: Vec<Situation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParametersFile {
    parameter: Vec<Parameter>,
}

/// Whether a public source confirmed a figure.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A public source states it.
    Confirmed,
    /// A government draft states it; the adopted act was not found.
    Draft,
    /// Believed, but no public source found states it (or its date).
    Unconfirmed,
}

/// One value of a parameter, from a date on, and until the day before the next value or, for a
/// figure set for a period (indexed yearly...), until the last day it is known to hold.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatedValue {
    pub from: String,
    /// The last day the value is known to hold; past it, with no next value, the figure is
    /// unknown rather than the old one.
    pub until: Option<String>,
    pub value: f64,
    pub status: Status,
    pub source: String,
    pub url: String,
    #[serde(skip)]
    pub(crate) from_date: Option<Date>,
    #[serde(skip)]
    pub(crate) until_date: Option<Date>,
}

/// A figure that changes over time: the values in force from each date, with their sources.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    pub name: String,
    pub unit: String,
    pub label: Text,
    pub value: Vec<DatedValue>,
}

impl Parameter {
    /// The value in force on `date`, if the parameter has one then.
    pub fn at(&self, date: Date) -> Option<&DatedValue> {
        self.value
            .iter()
            .rev()
            .find(|value| value.from_date.is_some_and(|from| from <= date))
            .filter(|value| value.until_date.is_none_or(|until| date <= until))
    }
}

/// A benefit's info sheet in one language.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sheet {
    pub summary: String,
    pub conditions: Vec<String>,
    pub obligations: Vec<String>,
    pub payment: String,
    pub forms: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sheets {
    pub ro: Sheet,
    pub ru: Sheet,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    pub act: String,
    pub articles: Vec<String>,
    pub url: String,
}

/// One step of a benefit's decision: `sets` the value of `expression` (ZEN expression
/// language), which may read only the names in `uses`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub sets: String,
    pub uses: Vec<String>,
    pub expression: String,
    /// The legal article behind the rule.
    pub article: String,
    pub explains: Text,
    /// What a reader must know about the rule, such as an interpretation no source confirmed.
    pub note: Option<Text>,
}

/// How often a benefit pays.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Month,
    Once,
}

/// What a benefit is evaluated for: the household, each of its newborn children with the
/// figures in force on the child's date of birth, or each child under 18 with a disability.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    #[default]
    Household,
    Newborn,
    ChildWithDisability,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InForce {
    pub from: String,
    pub until: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct Benefit {
    pub id: String,
    pub name: Text,
    pub situations: Vec<String>,
    pub period: Period,
    /// The variable a rule sets that decides eligibility.
    pub eligible: String,
    /// The variable a rule sets that is the amount.
    pub amount: String,
    #[serde(default)]
    pub for_each: Subject,
    pub in_force: Option<InForce>,
    pub sheet: Sheets,
    pub legal_basis: Vec<LegalBasis>,
    #[serde(default)]
    pub parameter: Vec<Parameter>,
    pub rule: Vec<Rule>,
}

impl Benefit {
    /// Whether the benefit exists on `date`.
    pub fn in_force_on(&self, date: Date) -> bool {
        let Some(in_force) = &self.in_force else {
            return true;
        };
        let from = parse_date(&in_force.from).ok();
        let until = in_force.until.as_deref().and_then(|d| parse_date(d).ok());
        from.is_none_or(|from| from <= date) && until.is_none_or(|until| date <= until)
    }
}

/// The whole catalog, checked.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub version: String,
    /// `sha256:` and the hex SHA-256 over every catalog file, in path order.
    pub hash: String,
    pub situations: Vec<Situation>,
    pub shared: Vec<Parameter>,
    pub benefits: Vec<Benefit>,
}

pub(crate) fn parse_date(text: &str) -> Result<Date, time::error::Parse> {
    Date::parse(text, format_description!("[year]-[month]-[day]"))
}

fn read(path: &Path, hasher: &mut Sha256) -> Result<String, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    hasher.update((path.file_name().map_or(0, |n| n.len()) as u64).to_be_bytes());
    hasher.update((text.len() as u64).to_be_bytes());
    hasher.update(text.as_bytes());
    Ok(text)
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, CatalogError> {
    toml::from_str(text).map_err(|error| CatalogError::Parse {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

fn check_parameter(path: &Path, parameter: &mut Parameter) -> Result<(), CatalogError> {
    let invalid = |message: String| CatalogError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if parameter.value.is_empty() {
        return Err(invalid(format!(
            "parameter `{}` has no value",
            parameter.name
        )));
    }
    let mut previous = None;
    for value in &mut parameter.value {
        let from = parse_date(&value.from).map_err(|_| {
            invalid(format!(
                "parameter `{}`: `from` must be a date like 2025-04-01",
                parameter.name
            ))
        })?;
        if previous.is_some_and(|previous| previous >= from) {
            return Err(invalid(format!(
                "parameter `{}`: values must be in order of their `from` dates",
                parameter.name
            )));
        }
        let until = value
            .until
            .as_deref()
            .map(parse_date)
            .transpose()
            .map_err(|_| {
                invalid(format!(
                    "parameter `{}`: `until` must be a date like 2026-03-31",
                    parameter.name
                ))
            })?;
        if until.is_some_and(|until| until < from) {
            return Err(invalid(format!(
                "parameter `{}`: `until` is before `from`",
                parameter.name
            )));
        }
        value.until_date = until;
        if value.source.trim().is_empty() || !value.url.starts_with("http") {
            return Err(invalid(format!(
                "parameter `{}`: every value needs its `source` and `url`",
                parameter.name
            )));
        }
        previous = Some(from);
        value.from_date = Some(from);
    }
    Ok(())
}

fn check_benefit(
    path: &Path,
    benefit: &Benefit,
    shared: &[Parameter],
    situations: &BTreeSet<&str>,
) -> Result<(), CatalogError> {
    let invalid = |message: String| CatalogError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    for situation in &benefit.situations {
        if !situations.contains(situation.as_str()) {
            return Err(invalid(format!("unknown life situation `{situation}`")));
        }
    }
    if let Some(in_force) = &benefit.in_force {
        parse_date(&in_force.from)
            .map_err(|_| invalid("`in_force.from` must be a date like 2010-09-03".into()))?;
        if let Some(until) = &in_force.until {
            parse_date(until)
                .map_err(|_| invalid("`in_force.until` must be a date like 2023-03-31".into()))?;
        }
    }
    let mut known: BTreeSet<&str> = facts::names(benefit.for_each).iter().copied().collect();
    known.extend(benefit.parameter.iter().map(|p| p.name.as_str()));
    known.extend(shared.iter().map(|p| p.name.as_str()));
    let mut rule_ids = BTreeSet::new();
    for rule in &benefit.rule {
        if !rule_ids.insert(rule.id.as_str()) {
            return Err(invalid(format!("two rules are called `{}`", rule.id)));
        }
        for name in &rule.uses {
            if !known.contains(name.as_str()) {
                return Err(invalid(format!(
                    "rule `{}` uses `{name}`, which is no fact, no parameter and no variable \
                     an earlier rule sets",
                    rule.id
                )));
            }
        }
        zen_expression::compile_expression(&rule.expression).map_err(|error| {
            invalid(format!(
                "rule `{}`: the expression does not compile: {error}",
                rule.id
            ))
        })?;
        if known.contains(rule.sets.as_str()) {
            return Err(invalid(format!(
                "rule `{}` sets `{}`, which is already a fact, a parameter or set by an \
                 earlier rule",
                rule.id, rule.sets
            )));
        }
        known.insert(&rule.sets);
    }
    for (what, name) in [("eligible", &benefit.eligible), ("amount", &benefit.amount)] {
        if !benefit.rule.iter().any(|rule| &rule.sets == name) {
            return Err(invalid(format!(
                "no rule sets `{name}`, the benefit's `{what}`"
            )));
        }
    }
    Ok(())
}

impl Catalog {
    /// Loads and checks the catalog in `dir`.
    pub fn load(dir: &Path) -> Result<Self, CatalogError> {
        let mut hasher = Sha256::new();
        let catalog_path = dir.join("catalog.toml");
        let catalog: CatalogFile = parse(&catalog_path, &read(&catalog_path, &mut hasher)?)?;
        let parameters_path = dir.join("parameters.toml");
        let mut shared: ParametersFile =
            parse(&parameters_path, &read(&parameters_path, &mut hasher)?)?;
        for parameter in &mut shared.parameter {
            check_parameter(&parameters_path, parameter)?;
        }
        let situations: BTreeSet<&str> = catalog.situation.iter().map(|s| s.id.as_str()).collect();

        let mut folders: BTreeMap<String, PathBuf> = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| CatalogError::Read {
                path: dir.to_path_buf(),
                source,
            })?;
            if entry.path().is_dir() {
                folders.insert(
                    entry.file_name().to_string_lossy().into_owned(),
                    entry.path(),
                );
            }
        }
        let mut benefits = Vec::new();
        for (folder, path) in folders {
            let path = path.join("benefit.toml");
            let mut benefit: Benefit = parse(&path, &read(&path, &mut hasher)?)?;
            if benefit.id != folder {
                return Err(CatalogError::Invalid {
                    path,
                    message: format!("the benefit's id must be its folder's name, `{folder}`"),
                });
            }
            for parameter in &mut benefit.parameter {
                check_parameter(&path, parameter)?;
            }
            check_benefit(&path, &benefit, &shared.parameter, &situations)?;
            benefits.push(benefit);
        }
        if benefits.is_empty() {
            return Err(CatalogError::Invalid {
                path: dir.to_path_buf(),
                message: "the catalog has no benefit".into(),
            });
        }
        Ok(Self {
            version: catalog.version,
            hash: format!("sha256:{}", hex::encode(hasher.finalize())),
            situations: catalog.situation,
            shared: shared.parameter,
            benefits,
        })
    }

    pub fn benefit(&self, id: &str) -> Option<&Benefit> {
        self.benefits.iter().find(|b| b.id == id)
    }

    /// Every parameter `benefit`'s rules use, its own and shared ones, by name.
    pub fn parameters_of<'a>(&'a self, benefit: &'a Benefit) -> Vec<&'a Parameter> {
        let mut names: Vec<&str> = benefit
            .rule
            .iter()
            .flat_map(|rule| rule.uses.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| self.parameter(benefit, name))
            .collect()
    }

    /// A parameter of `benefit`, or a shared one.
    pub fn parameter<'a>(&'a self, benefit: &'a Benefit, name: &str) -> Option<&'a Parameter> {
        benefit
            .parameter
            .iter()
            .chain(&self.shared)
            .find(|parameter| parameter.name == name)
    }
}
