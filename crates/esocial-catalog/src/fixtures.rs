//! Adapter fixtures (`adapters/<registry>/fixtures/<service>/<case>.*`): request/answer pairs
//! with their expected canonical result. The loader checks every case at start-up (golden
//! tests), and the registry simulators answer with them.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use super::adapter::{AdapterError, Operation, RegistryFailure, Service};
use super::contract::ContractPart;
use super::mapping::TemplateFormat;
use esocial_wire::mconnect::xml;

/// What a fixture says the hub must make of the answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub subject: ExpectedSubject,
    pub data: Option<Value>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSubject {
    pub idnp: String,
}

/// One request/answer pair.
#[derive(Debug, Clone)]
pub struct FixtureCase {
    pub name: String,
    pub expected: Expected,
    pub request_path: PathBuf,
    pub request: String,
    pub response_path: PathBuf,
    /// The answer payload as the registry sends it (SOAP body element, or REST `response` /
    /// `error` object).
    pub response: String,
}

fn read(path: &Path) -> Result<String, AdapterError> {
    std::fs::read_to_string(path).map_err(|source| AdapterError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Every case of `service`, sorted by name.
pub fn load_cases(
    adapter_folder: &Path,
    service: &Service,
) -> Result<Vec<FixtureCase>, AdapterError> {
    let folder = adapter_folder.join("fixtures").join(&service.id);
    let extension = match service.request.format() {
        TemplateFormat::Xml => "xml",
        TemplateFormat::Json => "json",
    };
    let entries = std::fs::read_dir(&folder).map_err(|source| AdapterError::Io {
        path: folder.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".expected.json").map(str::to_string))
        .collect();
    names.sort();
    let mut cases = Vec::new();
    for name in names {
        let expected_path = folder.join(format!("{name}.expected.json"));
        let expected: Expected =
            serde_json::from_str(&read(&expected_path)?).map_err(|error| AdapterError::Syntax {
                path: expected_path.clone(),
                message: error.to_string(),
            })?;
        if expected.data.is_some() == expected.error.is_some() {
            return Err(AdapterError::invalid(
                expected_path,
                "needs exactly one of `data` and `error`",
            ));
        }
        let request_path = folder.join(format!("{name}.request.{extension}"));
        let response_path = folder.join(format!("{name}.response.{extension}"));
        cases.push(FixtureCase {
            name,
            expected,
            request: read(&request_path)?,
            request_path,
            response: read(&response_path)?,
            response_path,
        });
    }
    if cases.is_empty() {
        return Err(AdapterError::invalid(
            folder,
            "no fixtures: each service needs at least one <case>.expected.json with its request and response",
        ));
    }
    Ok(cases)
}

/// Re-serialises XML without whitespace-only text, so layout does not matter.
fn normalized_xml(text: &str) -> Result<String, String> {
    fn write(node: roxmltree::Node<'_, '_>, out: &mut String) {
        if node.is_element() {
            out.push('<');
            out.push_str(node.tag_name().namespace().unwrap_or_default());
            out.push(' ');
            out.push_str(node.tag_name().name());
            out.push('>');
            for child in node.children() {
                write(child, out);
            }
            out.push_str("</>");
        } else if let Some(text) = node.text().filter(|_| node.is_text()) {
            out.push_str(text.trim());
        }
    }
    let document = xml::parse(text).map_err(|e| e.to_string())?;
    let mut out = String::new();
    write(document.root_element(), &mut out);
    Ok(out)
}

/// Decodes a fixture's answer the way the hub decodes a live one.
pub fn decode(service: &Service, response: &str) -> Result<Result<Value, RegistryFailure>, String> {
    match service.operation {
        Operation::Soap { .. } => {
            let document = xml::parse(response).map_err(|e| e.to_string())?;
            Ok(service.decode_soap(document.root_element()))
        }
        Operation::Rest { .. } => {
            let payload: Value = serde_json::from_str(response).map_err(|e| e.to_string())?;
            Ok(service.decode_rest(&payload))
        }
    }
}

/// Checks every case of `service`: the template renders the fixture request, the answer
/// decodes to the expected result, and both sides satisfy the service's contract. Returns the
/// number of cases checked.
pub fn check_service(adapter_folder: &Path, service: &Service) -> Result<usize, AdapterError> {
    let cases = load_cases(adapter_folder, service)?;
    for case in &cases {
        let idnp = case.expected.subject.idnp.clone();
        let rendered = service
            .request
            .render(|name| (name == "subject.idnp").then(|| idnp.clone()))
            .map_err(|e| AdapterError::invalid(case.request_path.clone(), e.to_string()))?;
        let same = match service.request.format() {
            TemplateFormat::Xml => normalized_xml(&rendered) == normalized_xml(&case.request),
            TemplateFormat::Json => {
                serde_json::from_str::<Value>(&rendered).ok()
                    == serde_json::from_str::<Value>(&case.request).ok()
            }
        };
        if !same {
            return Err(AdapterError::invalid(
                case.request_path.clone(),
                "differs from what the request template renders for the fixture's subject",
            ));
        }
        let canonical_request = json!({
            "service": service.id,
            "subject": {"idnp": idnp},
            "purpose": {"legalBasis": "Legea nr. 123/2010, art. 12", "reason": "Golden test"},
            "caller": {"userIdnp": idnp},
        });
        service
            .contract
            .validate(ContractPart::Request, &canonical_request)
            .map_err(|violations| {
                AdapterError::invalid(
                    case.request_path.clone(),
                    format!("canonical request breaks the request contract: {violations:?}"),
                )
            })?;
        let outcome = decode(service, &case.response)
            .map_err(|problem| AdapterError::invalid(case.response_path.clone(), problem))?;
        let mismatch = match (&outcome, &case.expected.data, &case.expected.error) {
            (Ok(data), Some(expected), _) if data == expected => None,
            (Err(failure), _, Some(code)) if failure.code() == code => None,
            (Ok(data), _, _) => Some(format!("decodes to data {data}")),
            (Err(failure), _, _) => Some(format!("decodes to error {failure:?}")),
        };
        if let Some(mismatch) = mismatch {
            return Err(AdapterError::invalid(
                case.response_path.clone(),
                format!("{mismatch}, not what {}.expected.json says", case.name),
            ));
        }
    }
    Ok(cases.len())
}
