//! The exchange request: parsed from the caller's JSON into a domain value that carries its
//! invariants (valid IDNPs, a legal basis and reason stated in words).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::exchange::ExchangeError;
use esocial_wire::domain::Idnp;
use esocial_wire::domain::text::has_words;

/// Why the data is requested. Law 142/2018 makes basis and reason mandatory.
#[derive(Debug, Clone)]
pub struct Purpose {
    pub legal_basis: String,
    pub reason: String,
    pub case_id: Option<String>,
}

/// Whether the caller waits for the registry's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Sync,
    Async,
}

/// A checked request for data about one person from one service.
#[derive(Debug, Clone)]
pub struct ExchangeRequest {
    pub mode: Mode,
    pub service: String,
    pub subject: Idnp,
    pub purpose: Purpose,
    /// The person acting in the calling module.
    pub calling_user: Idnp,
    pub params: BTreeMap<String, String>,
    /// Async only: where to announce completion; one of the client's registered URLs.
    pub callback_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    #[serde(default)]
    mode: Mode,
    service: String,
    subject: SubjectBody,
    purpose: PurposeBody,
    caller: CallerBody,
    #[serde(default)]
    params: BTreeMap<String, String>,
    callback_url: Option<String>,
}

#[derive(Deserialize)]
struct SubjectBody {
    idnp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurposeBody {
    legal_basis: String,
    reason: String,
    case_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallerBody {
    user_idnp: String,
}

/// Whether a purpose field states nothing: absent, null, or text without words (blank,
/// punctuation, zero-width characters). Other types are left to the schema.
fn states_nothing(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(text)) => !has_words(text),
        Some(_) => false,
    }
}

impl ExchangeRequest {
    /// Parses raw request bytes. The checks run from the most specific (a missing legal basis
    /// gets its own code) to the general schema, then the identifiers' check digits.
    pub fn parse(bytes: &[u8]) -> Result<Self, ExchangeError> {
        Self::from_value(Self::json(bytes)?)
    }

    /// The request body as JSON, not yet checked.
    pub fn json(bytes: &[u8]) -> Result<Value, ExchangeError> {
        serde_json::from_slice(bytes)
            .map_err(|error| ExchangeError::MalformedJson(error.to_string()))
    }

    /// Checks a request already read as JSON, as [`ExchangeRequest::parse`] does.
    pub fn from_value(value: Value) -> Result<Self, ExchangeError> {
        let purpose = value.get("purpose");
        if states_nothing(purpose.and_then(|p| p.get("legalBasis"))) {
            return Err(ExchangeError::MissingLegalBasis);
        }
        if states_nothing(purpose.and_then(|p| p.get("reason"))) {
            return Err(ExchangeError::MissingReason);
        }
        crate::schema::validate("exchange-request", &value)
            .map_err(ExchangeError::InvalidRequest)?;
        let body: Body = serde_json::from_value(value)
            .map_err(|error| ExchangeError::MalformedJson(error.to_string()))?;
        let subject =
            Idnp::parse(&body.subject.idnp).map_err(|error| ExchangeError::InvalidIdnp {
                field: "subject.idnp",
                problem: error.to_string(),
            })?;
        let calling_user =
            Idnp::parse(&body.caller.user_idnp).map_err(|error| ExchangeError::InvalidIdnp {
                field: "caller.userIdnp",
                problem: error.to_string(),
            })?;
        Ok(Self {
            mode: body.mode,
            service: body.service,
            subject,
            purpose: Purpose {
                legal_basis: body.purpose.legal_basis.trim().to_string(),
                reason: body.purpose.reason.trim().to_string(),
                case_id: body.purpose.case_id,
            },
            calling_user,
            params: body.params,
            callback_url: body.callback_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "service": "civil.person-details",
            "subject": {"idnp": "2000000000004"},
            "purpose": {"legalBasis": "Legea nr. 123/2010, art. 12", "reason": "Evaluare inițială", "caseId": "C-1"},
            "caller": {"userIdnp": "2000000000004"}
        })
    }

    fn parse(value: &Value) -> Result<ExchangeRequest, ExchangeError> {
        ExchangeRequest::parse(value.to_string().as_bytes())
    }

    #[test]
    fn a_valid_request_parses() {
        let request = parse(&valid()).unwrap();
        assert_eq!(request.service, "civil.person-details");
        assert_eq!(request.subject.expose(), "2000000000004");
        assert_eq!(request.purpose.case_id.as_deref(), Some("C-1"));
    }

    #[test]
    fn missing_or_blank_basis_and_reason_get_their_own_codes() {
        let mut body = valid();
        body["purpose"]["legalBasis"] = json!("   ");
        assert_eq!(
            parse(&body).unwrap_err().code(),
            "caller.missing_legal_basis"
        );
        let mut body = valid();
        body["purpose"].as_object_mut().unwrap().remove("reason");
        assert_eq!(parse(&body).unwrap_err().code(), "caller.missing_reason");
        let mut body = valid();
        body.as_object_mut().unwrap().remove("purpose");
        assert_eq!(
            parse(&body).unwrap_err().code(),
            "caller.missing_legal_basis"
        );
    }

    #[test]
    fn a_basis_or_reason_without_words_is_missing_and_the_error_names_only_the_field() {
        for (field, code, name) in [
            (
                "legalBasis",
                "caller.missing_legal_basis",
                "purpose.legalBasis",
            ),
            ("reason", "caller.missing_reason", "purpose.reason"),
        ] {
            for empty in [
                "\u{200B}\u{200B}\u{200B}\u{200B}",
                "\u{FEFF}\u{2060} \u{200E}\u{200F}",
                "---",
                "...",
                " . ab . ",
                "123/2010",
            ] {
                let mut body = valid();
                body["purpose"][field] = json!(empty);
                let error = parse(&body).unwrap_err();
                assert_eq!(error.code(), code, "{field} = {empty:?}");
                let message = error.to_string();
                assert!(message.contains(name), "{message}");
                assert!(!message.contains(empty), "{message}");
            }
        }
    }

    #[test]
    fn a_basis_and_reason_in_any_script_pass() {
        let mut body = valid();
        body["purpose"]["legalBasis"] = json!("Закон № 133/2011, ст. 8");
        body["purpose"]["reason"] = json!("\u{200B}Anchetă socială");
        let request = parse(&body).unwrap();
        assert_eq!(request.purpose.legal_basis, "Закон № 133/2011, ст. 8");
    }

    #[test]
    fn a_wrong_check_digit_names_the_field() {
        let mut body = valid();
        body["subject"]["idnp"] = json!("2000000000005");
        match parse(&body).unwrap_err() {
            ExchangeError::InvalidIdnp { field, .. } => assert_eq!(field, "subject.idnp"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_fields_and_bad_json_are_refused() {
        let mut body = valid();
        body["surprise"] = json!(1);
        let error = parse(&body).unwrap_err();
        assert_eq!(error.code(), "caller.invalid_request");
        assert_eq!(error.violations()[0].pointer, "");
        assert_eq!(
            ExchangeRequest::parse(b"{not json").unwrap_err().code(),
            "caller.malformed_json"
        );
    }
}
