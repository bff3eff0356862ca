//! A source record as registries and legacy systems send it (the JSON Lines import format and
//! the body of `POST /api/v1/persons/records`), and the checks it must pass before the index
//! takes it. Documented in `contracts/mpi/source-record.md`.

use serde::{Deserialize, Serialize};

use crate::normalize::PartialDate;
use esocial_wire::domain::Idnp;
use esocial_wire::domain::idnp::IdentifierError;

/// Longest accepted text field, in characters.
pub const MAX_FIELD_CHARS: usize = 200;
/// Most identifiers other than the IDNP one record may carry.
pub const MAX_IDENTIFIERS: usize = 16;

/// One person as one source system knows them. Every field but `localId` is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceRecord {
    /// The record's key in its source system.
    pub local_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idnp: Option<String>,
    /// Identifiers in other systems (passport, birth certificate, school register...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patronymic: Option<String>,
    /// `YYYY-MM-DD`, or partial `YYYY-MM` / `YYYY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// `M` or `F`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// An identifier in a system other than the population register.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    pub system: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub house: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

/// Why a record was refused: the field (as a JSON path) and the problem. The message never
/// repeats the value, which is personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RecordError {
    pub field: String,
    pub problem: String,
}

impl RecordError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// An IDNP's thirteen digits, held inline so that a million indexed records keep no IDNP on
/// the heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdnpDigits([u8; IdnpDigits::LEN]);

impl IdnpDigits {
    pub const LEN: usize = 13;

    /// `None` unless `digits` is exactly thirteen ASCII digits.
    pub fn new(digits: &str) -> Option<Self> {
        let bytes: [u8; Self::LEN] = digits.as_bytes().try_into().ok()?;
        bytes.iter().all(u8::is_ascii_digit).then_some(Self(bytes))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an IDNP is ASCII digits")
    }
}

impl std::fmt::Debug for IdnpDigits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdnpDigits(***)")
    }
}

/// How far an IDNP can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdnpEvidence {
    /// Thirteen digits with a correct check digit: strong evidence, though registries carry
    /// typos that happen to pass.
    Valid(IdnpDigits),
    /// Thirteen digits whose check digit fails: a typo somewhere, weak evidence only.
    Suspect(IdnpDigits),
}

impl IdnpEvidence {
    pub fn digits(&self) -> &str {
        match self {
            Self::Valid(digits) | Self::Suspect(digits) => digits.as_str(),
        }
    }

    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid(_))
    }
}

impl SourceRecord {
    /// Checks every field; the first problem found is returned, naming its field.
    pub fn check(&self) -> Result<(), RecordError> {
        let local_id = self.local_id.trim();
        if local_id.is_empty() {
            return Err(RecordError::new(
                "localId",
                "is required and must not be blank",
            ));
        }
        if local_id.chars().count() > MAX_FIELD_CHARS || local_id.chars().any(char::is_control) {
            return Err(RecordError::new(
                "localId",
                format!("must be at most {MAX_FIELD_CHARS} characters without control characters"),
            ));
        }
        self.idnp_evidence()?;
        if self.identifiers.len() > MAX_IDENTIFIERS {
            return Err(RecordError::new(
                "identifiers",
                format!("at most {MAX_IDENTIFIERS} identifiers"),
            ));
        }
        for (index, identifier) in self.identifiers.iter().enumerate() {
            check_text(
                &format!("identifiers[{index}].system"),
                Some(&identifier.system),
            )?;
            check_text(
                &format!("identifiers[{index}].value"),
                Some(&identifier.value),
            )?;
            if identifier.system.trim().is_empty() || identifier.value.trim().is_empty() {
                return Err(RecordError::new(
                    format!("identifiers[{index}]"),
                    "system and value must not be blank",
                ));
            }
        }
        check_text("firstName", self.first_name.as_deref())?;
        check_text("lastName", self.last_name.as_deref())?;
        check_text("patronymic", self.patronymic.as_deref())?;
        self.birth_date()?;
        if let Some(sex) = &self.sex
            && sex != "M"
            && sex != "F"
        {
            return Err(RecordError::new("sex", "must be \"M\" or \"F\""));
        }
        if let Some(address) = &self.address {
            check_text("address.district", address.district.as_deref())?;
            check_text("address.locality", address.locality.as_deref())?;
            check_text("address.street", address.street.as_deref())?;
            check_text("address.house", address.house.as_deref())?;
            check_text("address.postalCode", address.postal_code.as_deref())?;
        }
        if let Some(phone) = &self.phone {
            let digits = phone.chars().filter(char::is_ascii_digit).count();
            let allowed = phone
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
            if !allowed || !(6..=15).contains(&digits) {
                return Err(RecordError::new(
                    "phone",
                    "must be 6 to 15 digits, optionally with + ( ) - . and spaces",
                ));
            }
        }
        Ok(())
    }

    /// The IDNP, graded; `Ok(None)` when absent or blank.
    pub fn idnp_evidence(&self) -> Result<Option<IdnpEvidence>, RecordError> {
        let Some(raw) = self
            .idnp
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return Ok(None);
        };
        let digits = |digits: &str| IdnpDigits::new(digits).expect("a parsed IDNP has 13 digits");
        match Idnp::parse(raw) {
            Ok(idnp) => Ok(Some(IdnpEvidence::Valid(digits(idnp.expose())))),
            Err(IdentifierError::CheckDigit) => Ok(Some(IdnpEvidence::Suspect(digits(raw)))),
            Err(error) => Err(RecordError::new("idnp", error.to_string())),
        }
    }

    /// The birth date, parsed; `Ok(None)` when absent or blank.
    pub fn birth_date(&self) -> Result<Option<PartialDate>, RecordError> {
        match self.birth_date.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => PartialDate::parse(raw)
                .map(Some)
                .map_err(|error| RecordError::new("birthDate", error.to_string())),
        }
    }
}

/// A JSON (serde) error as a message that names the field or type but never repeats the
/// value: "invalid type: string \"Rusu\", expected ..." becomes "invalid type: string,
/// expected ...", and "unknown variant `x`, expected ..." loses `x`; positions are dropped
/// too. The value is cut as a whole, so quotes inside it do not matter.
pub fn json_problem(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let message = message
        .rfind(" at line ")
        .map_or(message.as_str(), |end| &message[..end]);
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        // serde writes what it found, then what it expected. A value may contain anything,
        // so serde's own tail is the last one.
        let split = [", expected ", ", there are no "]
            .iter()
            .filter_map(|tail| rest.rfind(tail))
            .max()
            .unwrap_or(rest.len());
        let (found, expected) = rest.split_at(split);
        // "string \"...\"", "integer `...`", "map": the kind, before any quoted value.
        let kind = found.split(['"', '`']).next().unwrap_or_default().trim();
        return if kind.is_empty() {
            format!("{}{expected}", prefix.trim_end())
        } else {
            format!("{prefix}{kind}{expected}")
        };
    }
    message.to_owned()
}

fn check_text(field: &str, value: Option<&str>) -> Result<(), RecordError> {
    if let Some(value) = value
        && (value.chars().count() > MAX_FIELD_CHARS || value.chars().any(char::is_control))
    {
        return Err(RecordError::new(
            field,
            format!("must be at most {MAX_FIELD_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> SourceRecord {
        serde_json::from_str(json).expect("test record parses")
    }

    #[test]
    fn only_local_id_is_required() {
        let minimal = record(r#"{"localId":"A-1"}"#);
        assert_eq!(minimal.check(), Ok(()));
        let blank = record(r#"{"localId":"  "}"#);
        assert_eq!(blank.check().unwrap_err().field, "localId");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = serde_json::from_str::<SourceRecord>(r#"{"localId":"1","idnpp":"x"}"#)
            .expect_err("typo in a field name");
        assert!(error.to_string().contains("idnpp"), "{error}");
    }

    #[test]
    fn json_errors_name_the_problem_without_the_value() {
        let error = serde_json::from_str::<SourceRecord>(r#"{"localId":"1","lastName":7730}"#)
            .expect_err("a number is not a name");
        let message = json_problem(&error);
        assert!(message.starts_with("invalid type: integer"), "{message}");
        assert!(!message.contains("7730"), "{message}");
        let error = serde_json::from_str::<SourceRecord>(
            r#"{"localId":"1","address":"str. Florilor 5, Cahul"}"#,
        )
        .expect_err("an address is an object");
        let message = json_problem(&error);
        assert!(!message.contains("Florilor"), "{message}");
        let error = serde_json::from_str::<SourceRecord>(r#"{"localId":"1","surname":"x"}"#)
            .expect_err("unknown field");
        assert!(json_problem(&error).contains("surname"));
    }

    #[test]
    fn quotes_inside_a_value_do_not_let_part_of_it_through() {
        let error = serde_json::from_str::<SourceRecord>(
            r#"{"localId":"1","address":"Rusu \"Ana\", expected `Cahul` at line 9"}"#,
        )
        .expect_err("an address is an object");
        let message = json_problem(&error);
        assert_eq!(message, "invalid type: string, expected struct Address");
        let error = serde_json::from_str::<Vec<u8>>(r#"{"Rusu":1}"#).expect_err("not a list");
        assert_eq!(
            json_problem(&error),
            "invalid type: map, expected a sequence"
        );
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Verdict {
            Match,
        }
        let error =
            serde_json::from_str::<Verdict>(r#""Rusu`, expected x""#).expect_err("unknown variant");
        assert_eq!(
            json_problem(&error),
            "unknown variant, expected `match`",
            "{error}"
        );
    }

    #[test]
    fn a_failing_check_digit_makes_the_idnp_suspect_not_invalid() {
        let valid = record(r#"{"localId":"1","idnp":"2000000000004"}"#);
        assert_eq!(
            valid.idnp_evidence(),
            Ok(Some(IdnpEvidence::Valid(
                IdnpDigits::new("2000000000004").unwrap()
            )))
        );
        let typo = record(r#"{"localId":"1","idnp":"2000000000005"}"#);
        assert_eq!(typo.check(), Ok(()));
        assert_eq!(
            typo.idnp_evidence(),
            Ok(Some(IdnpEvidence::Suspect(
                IdnpDigits::new("2000000000005").unwrap()
            )))
        );
        let short = record(r#"{"localId":"1","idnp":"200000000"}"#);
        let error = short.check().unwrap_err();
        assert_eq!(error.field, "idnp");
        assert!(!error.to_string().contains("200000000"), "{error}");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"{"localId":"1","birthDate":"1987-13-01"}"#, "birthDate"),
            (r#"{"localId":"1","sex":"X"}"#, "sex"),
            (r#"{"localId":"1","phone":"call me"}"#, "phone"),
            (
                r#"{"localId":"1","address":{"district":"a\u0000b"}}"#,
                "address.district",
            ),
            (
                r#"{"localId":"1","identifiers":[{"system":"","value":"1"}]}"#,
                "identifiers[0]",
            ),
        ];
        for (json, field) in cases {
            let error = record(json).check().expect_err(json);
            assert!(error.field.starts_with(field), "{json}: {error}");
        }
    }
}
