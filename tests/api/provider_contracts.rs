//! The contracts of the hub's own provider services (`contracts/provider/`): the JSON Schemas
//! and their examples, the XML examples against the XSDs (with `xmllint`), the naming rule
//! between the two, the WSDL's operations and headers, and the OpenAPI document's endpoints.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};

const OPERATIONS: [&str; 3] = [
    "GetBeneficiaryStatus",
    "GetActiveCases",
    "NotifyCaseRelevantEvent",
];
const ES: &str = "https://esocial.gov.md/mconnect/v1";
const MC: &str = "https://mconnect.gov.md";
const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";

fn provider() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/provider")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn schema(operation: &str, part: &str) -> Value {
    read_json(
        &provider()
            .join(operation)
            .join(format!("{part}.schema.json")),
    )
}

fn violations(schema: &Value, document: &Value) -> usize {
    let validator = esocial_catalog::json_schema::compile(schema).expect("the schema compiles");
    esocial_catalog::json_schema::check(&validator, document).map_or_else(|v| v.len(), |()| 0)
}

/// The example files of `extension`, by name.
fn examples(extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(provider().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// `GetActiveCases.response-limited.json` -> ("GetActiveCases", "response").
fn operation_and_part(file: &Path) -> (String, String) {
    let name = file.file_name().unwrap().to_str().unwrap();
    let mut pieces = name.split('.');
    let operation = pieces.next().unwrap().to_string();
    let part = pieces
        .next()
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .to_string();
    (operation, part)
}

#[test]
fn every_json_example_satisfies_its_schema_and_broken_ones_do_not() {
    let files = examples("json");
    assert!(files.len() >= 6, "{files:?}");
    for file in &files {
        let (operation, part) = operation_and_part(file);
        let schema = schema(&operation, &part);
        let example = read_json(file);
        assert_eq!(violations(&schema, &example), 0, "{}", file.display());

        let mut unknown = example.clone();
        unknown["surname"] = json!("x");
        assert!(
            violations(&schema, &unknown) > 0,
            "{}: extra key",
            file.display()
        );
        let mut without = example.clone();
        let required = schema["required"].as_array().unwrap();
        without
            .as_object_mut()
            .unwrap()
            .remove(required[0].as_str().unwrap());
        assert!(
            violations(&schema, &without) > 0,
            "{}: required",
            file.display()
        );
    }
    for operation in OPERATIONS {
        for part in ["request", "response"] {
            assert!(
                files
                    .iter()
                    .any(|f| operation_and_part(f) == (operation.to_string(), part.to_string())),
                "no JSON example of the {operation} {part}"
            );
        }
    }
}

#[test]
fn answers_need_only_the_idnp_or_the_receipt_and_closed_values_are_enforced() {
    for operation in ["GetBeneficiaryStatus", "GetActiveCases"] {
        let response = schema(operation, "response");
        assert_eq!(response["required"], json!(["idnp"]), "{operation}");
        assert_eq!(violations(&response, &json!({"idnp": "2999045120339"})), 0);
        assert!(violations(&response, &json!({"idnp": "123"})) > 0);
    }
    let cases = schema("GetActiveCases", "response");
    let case = |case: Value| json!({"idnp": "2999045120339", "cases": [case]});
    assert_eq!(violations(&cases, &case(json!({"type": "poverty"}))), 0);
    assert!(violations(&cases, &case(json!({"type": "foster_care"}))) > 0);
    assert!(violations(&cases, &case(json!({"riskLevel": "extreme"}))) > 0);
    assert!(violations(&cases, &case(json!({"openedAt": "2026-13-01"}))) > 0);
    let receipt = schema("NotifyCaseRelevantEvent", "response");
    assert_eq!(
        receipt["required"],
        json!(["eventId", "receivedAt", "status"])
    );
    let event = schema("NotifyCaseRelevantEvent", "request");
    let mut notice = read_json(&provider().join("examples/NotifyCaseRelevantEvent.request.json"));
    for (key, bad) in [
        ("eventType", json!("Police Callout")),
        ("occurredAt", json!("2026-11-16 22:40")),
        ("severity", json!("urgent")),
        ("summary", json!("")),
        ("reference", json!("x".repeat(101))),
    ] {
        let good = notice[key].clone();
        notice[key] = bad;
        assert!(violations(&event, &notice) > 0, "{key}");
        notice[key] = good;
    }
}

#[test]
fn the_cases_registry_answers_fit_the_provider_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/cases/fixtures");
    let mut checked = 0;
    for (service, operation) in [
        ("cases.beneficiary-status", "GetBeneficiaryStatus"),
        ("cases.active-cases", "GetActiveCases"),
    ] {
        let response = schema(operation, "response");
        for entry in std::fs::read_dir(root.join(service)).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().ends_with(".expected.json") {
                continue;
            }
            if let Some(data) = read_json(&path).get("data") {
                assert_eq!(violations(&response, data), 0, "{}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 4);
}

/// The canonical JSON an XML payload element stands for: element names are PascalCase of
/// the keys (`IDNP` is `idnp`), an array is a wrapper of singular items, and the schema says
/// which texts are booleans or numbers.
fn xml_to_json(node: roxmltree::Node<'_, '_>, schema: &Value) -> Value {
    let mut object = Map::new();
    for child in node.children().filter(|c| c.is_element()) {
        assert_eq!(child.tag_name().namespace(), Some(ES), "{:?}", child);
        let name = child.tag_name().name();
        let key = if name == "IDNP" {
            "idnp".to_string()
        } else {
            let mut chars = name.chars();
            let first = chars.next().unwrap();
            assert!(first.is_ascii_uppercase(), "{name} is PascalCase");
            first.to_ascii_lowercase().to_string() + chars.as_str()
        };
        let property = &schema["properties"][&key];
        assert!(property.is_object(), "`{key}` is not in the schema");
        let value = match property["type"].as_str() {
            Some("array") => {
                let singular = name.strip_suffix('s').expect("a plural wrapper");
                Value::Array(
                    child
                        .children()
                        .filter(|c| c.is_element())
                        .map(|item| {
                            assert_eq!(item.tag_name().name(), singular);
                            xml_to_json(item, &property["items"])
                        })
                        .collect(),
                )
            }
            Some("object") => xml_to_json(child, property),
            Some("boolean") => {
                let text = child.text().unwrap();
                assert!(text == "true" || text == "false", "{key}: {text}");
                json!(text == "true")
            }
            Some("number") => json!(child.text().unwrap().parse::<f64>().unwrap()),
            _ => json!(child.text().unwrap()),
        };
        object.insert(key, value);
    }
    Value::Object(object)
}

/// Numbers as f64, so `75` and `75.0` compare equal.
fn floats(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(floats).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), floats(v))).collect())
        }
        other => other.clone(),
    }
}

#[test]
fn each_xml_example_says_what_its_json_example_says() {
    let mut compared = 0;
    for file in examples("xml") {
        let text = std::fs::read_to_string(&file).unwrap();
        let document = roxmltree::Document::parse(&text).unwrap();
        let envelope = document.root_element();
        assert_eq!(envelope.tag_name().namespace(), Some(SOAP_ENV));
        let header = envelope
            .children()
            .find(|c| c.has_tag_name((SOAP_ENV, "Header")))
            .expect("a SOAP header");
        let headers: Vec<&str> = header
            .children()
            .filter(|c| c.is_element() && c.tag_name().namespace() == Some(MC))
            .map(|c| c.tag_name().name())
            .collect();
        let body = envelope
            .children()
            .find(|c| c.has_tag_name((SOAP_ENV, "Body")))
            .unwrap();
        let payload = body.children().find(|c| c.is_element()).unwrap();
        let (operation, part) = operation_and_part(&file);
        match part.as_str() {
            "request" => assert_eq!(
                headers,
                [
                    "CallingUser",
                    "CallingEntity",
                    "CallBasis",
                    "CallReason",
                    "MessageId"
                ]
            ),
            _ => assert_eq!(headers, ["MessageId", "RelatesTo", "RequestHash"]),
        }
        if payload.has_tag_name((SOAP_ENV, "Fault")) {
            let code = payload
                .descendants()
                .find(|c| c.has_tag_name((MC, "Code")))
                .expect("detail/mc:Code");
            assert!(code.text().unwrap().contains('.'));
            continue;
        }
        let suffix = if part == "request" {
            "Request"
        } else {
            "Response"
        };
        assert_eq!(payload.tag_name().name(), format!("{operation}{suffix}"));
        let json_file = file.with_extension("json");
        let expected = read_json(&json_file);
        let actual = xml_to_json(payload, &schema(&operation, &part));
        assert_eq!(floats(&actual), floats(&expected), "{}", file.display());
        compared += 1;
    }
    assert!(compared >= 7, "{compared}");
}

#[test]
fn the_wsdl_has_the_three_operations_with_signed_mconnect_headers_and_a_coded_fault() {
    let text = std::fs::read_to_string(provider().join("esocial.wsdl")).unwrap();
    let document = roxmltree::Document::parse(&text).unwrap();
    const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
    const SOAP: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
    let root = document.root_element();
    assert_eq!(root.attribute("targetNamespace"), Some(ES));
    let port_type = root
        .children()
        .find(|c| c.has_tag_name((WSDL, "portType")))
        .unwrap();
    let operations: Vec<&str> = port_type
        .children()
        .filter(|c| c.has_tag_name((WSDL, "operation")))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert_eq!(operations, OPERATIONS);
    let binding = root
        .children()
        .find(|c| c.has_tag_name((WSDL, "binding")))
        .unwrap();
    for operation in binding
        .children()
        .filter(|c| c.has_tag_name((WSDL, "operation")))
    {
        let name = operation.attribute("name").unwrap();
        let action = operation
            .children()
            .find(|c| c.has_tag_name((SOAP, "operation")))
            .and_then(|c| c.attribute("soapAction"));
        assert_eq!(action, Some(format!("{ES}/{name}").as_str()));
        let parts = |direction: &str| -> Vec<&str> {
            operation
                .children()
                .find(|c| c.has_tag_name((WSDL, direction)))
                .unwrap()
                .children()
                .filter(|c| c.has_tag_name((SOAP, "header")))
                .map(|c| c.attribute("part").unwrap())
                .collect()
        };
        assert_eq!(
            parts("input"),
            [
                "CallingUser",
                "CallingEntity",
                "CallBasis",
                "CallReason",
                "MessageId"
            ]
        );
        assert_eq!(parts("output"), ["MessageId", "RelatesTo", "RequestHash"]);
        assert!(
            operation
                .children()
                .any(|c| c.has_tag_name((WSDL, "fault"))),
            "{name} declares its fault"
        );
    }
    for import in document
        .descendants()
        .filter(|n| n.tag_name().name() == "import")
    {
        let location = import.attribute("schemaLocation").unwrap();
        assert!(provider().join(location).is_file(), "{location}");
    }
    let fault = text.find(r#"<wsdl:part name="Code" element="mc:Code"/>"#);
    assert!(fault.is_some(), "the fault detail is mc:Code");
}

/// Whether xmllint is installed. `scripts/test.sh` installs it and sets
/// ESOCIAL_REQUIRE_XMLLINT, so there its absence is a failure, not a skip.
fn xmllint_available() -> bool {
    let found = Command::new("xmllint").arg("--version").output().is_ok();
    if !found && std::env::var("ESOCIAL_REQUIRE_XMLLINT").is_ok_and(|v| v == "1") {
        panic!("ESOCIAL_REQUIRE_XMLLINT=1 but xmllint is not installed");
    }
    found
}

fn xmllint_accepts(file: &Path) -> bool {
    let schema = provider().join("examples/soap-envelope-1.1.xsd");
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(file)
        .output()
        .unwrap();
    output.status.success()
}

#[test]
fn the_xml_examples_validate_against_the_xsds_and_broken_ones_do_not() {
    if !xmllint_available() {
        eprintln!("xmllint not installed: skipping");
        return;
    }
    let files = examples("xml");
    assert!(files.len() >= 8);
    for file in &files {
        assert!(xmllint_accepts(file), "{} fails the XSD", file.display());
    }
    let dir = tempfile::tempdir().unwrap();
    let read =
        |name: &str| std::fs::read_to_string(provider().join("examples").join(name)).unwrap();
    let broken = [
        (
            "GetActiveCases.response.xml",
            "child_protection",
            "foster_care",
        ),
        (
            "GetActiveCases.response.xml",
            " algorithmId=\"http://www.w3.org/2001/04/xmlenc#sha256\"",
            "",
        ),
        (
            "GetActiveCases.request.xml",
            "<es:IDNP>2999045120339</es:IDNP>",
            "",
        ),
        (
            "NotifyCaseRelevantEvent.request.xml",
            "+02:00</es:OccurredAt>",
            "</es:OccurredAt>",
        ),
        ("Fault.response.xml", "caller.replayed_message", "replayed"),
    ];
    for (index, (name, from, to)) in broken.iter().enumerate() {
        let text = read(name);
        assert!(text.contains(from), "{name}: {from}");
        let path = dir.path().join(format!("broken-{index}.xml"));
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        assert!(
            !xmllint_accepts(&path),
            "{name} with `{from}` -> `{to}` passes"
        );
    }
}

#[test]
fn the_openapi_document_has_the_three_endpoints_signed_bodies_and_signed_problems() {
    let document = read_json(&provider().join("esocial.openapi.json"));
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        paths,
        [
            "/mconnect/v1/active-cases",
            "/mconnect/v1/beneficiary-status",
            "/mconnect/v1/case-events"
        ],
        "the three endpoints, in key order"
    );
    for (path, item) in document["paths"].as_object().unwrap() {
        let post = &item["post"];
        assert!(post["requestBody"]["content"]["application/jose"].is_object());
        for (status, response) in post["responses"].as_object().unwrap() {
            if status == "200" {
                assert!(response["content"]["application/jose"].is_object());
            } else {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{path} {status}"
                );
                assert!(response["headers"]["X-JWS-Signature"].is_object());
            }
        }
    }
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut targets = Vec::new();
    refs(&document, &mut targets);
    let mut external = 0;
    for target in targets {
        match target.strip_prefix("#/") {
            Some(pointer) => assert!(
                document.pointer(&format!("/{pointer}")).is_some(),
                "{target}"
            ),
            None => {
                assert!(provider().join(target).is_file(), "{target}");
                external += 1;
            }
        }
    }
    assert_eq!(external, 6, "each operation's request and response schema");
}

/// The live endpoints conform to the published contracts: a signed answer, a minimised answer
/// and a signed Fault from the running hub validate against the XSDs, and a REST answer
/// against the JSON Schema of its operation.
#[tokio::test]
async fn live_answers_and_faults_conform_to_the_contracts() {
    use crate::agency::{Agency, CHILD, in_care};
    if !xmllint_available() {
        eprintln!("xmllint not installed: skipping");
        return;
    }
    let app = crate::helpers::spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    let police = Agency::new(&app, "agency-police");
    let school = Agency::new(&app, "agency-school");
    let dir = tempfile::tempdir().unwrap();
    let mut answers = Vec::new();
    let (status, answer) = police
        .post_soap(&app, police.soap_request("GetActiveCases", CHILD))
        .await;
    assert_eq!(status, 200);
    answers.push(("answer", answer));
    let (status, fault) = school
        .post_soap(&app, school.soap_request("GetBeneficiaryStatus", CHILD))
        .await;
    assert_eq!(status, 500);
    answers.push(("fault", fault));
    let (status, unsigned_fault) = police
        .post_soap(
            &app,
            police.unsigned(
                &police.context(),
                "GetActiveCases",
                &format!("<es:IDNP>{CHILD}</es:IDNP>"),
            ),
        )
        .await;
    assert_eq!(status, 500);
    answers.push(("fault-unverified", unsigned_fault));
    for (name, text) in answers {
        let file = dir.path().join(format!("{name}.xml"));
        std::fs::write(&file, &text).unwrap();
        assert!(xmllint_accepts(&file), "live {name} fails the XSD:\n{text}");
    }

    let context = police.context();
    let token = police.rest_request(&context, serde_json::json!({"idnp": CHILD}));
    let response = police.post_rest(&app, "active-cases", token).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    use base64::Engine as _;
    let payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(provider().join("GetActiveCases/response.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(
        validator.is_valid(&payload["response"]),
        "{}",
        payload["response"]
    );
}
