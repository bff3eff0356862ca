//! A real SOAP client against the provider side: zeep, built from the published WSDL and
//! signing with xmlsec, calls the hub as an agency's system would (`tests/zeep/agency_client.py`)
//! and gets a verified answer. `scripts/test.sh` installs zeep and xmlsec and sets
//! ESOCIAL_REQUIRE_ZEEP=1, so there a missing package is a failure, not a skip.

use std::path::{Path, PathBuf};

use esocial_store::ExchangeStatus;
use esocial_wire::crypto::pki::client_holder;
use esocial_wire::mconnect::request_hash;
use serde_json::Value;

use crate::agency::{CHILD, MOTHER, OFFICER, idno, in_care};
use crate::helpers::{TestApp, spawn_app};

const PYTHON: &str = "python3";
const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zeep/agency_client.py")
}

/// Whether zeep and xmlsec can be imported; with ESOCIAL_REQUIRE_ZEEP=1 their absence fails.
fn zeep_available() -> bool {
    let found = std::process::Command::new(PYTHON)
        .args(["-c", "import zeep, xmlsec, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !std::env::var("ESOCIAL_REQUIRE_ZEEP").is_ok_and(|v| v == "1"),
            "zeep and xmlsec are required: bash scripts/install-zeep.sh"
        );
        eprintln!(
            "zeep or xmlsec cannot be imported: zeep interop test not run (scripts/test.sh runs it)"
        );
    }
    found
}

/// What one run of the zeep client printed, and the exact bytes it sent and received.
struct ZeepRun {
    status: i32,
    output: Value,
    message_id: String,
    request: Vec<u8>,
    answer: Vec<u8>,
}

/// The zeep client as `agency` calling `operation` about `idnp` with `message_id`.
fn zeep_client(
    app: &TestApp,
    agency: &str,
    operation: &str,
    idnp: &str,
    message_id: &str,
) -> tokio::process::Command {
    let holder = client_holder(agency);
    let mut command = tokio::process::Command::new(PYTHON);
    command
        .arg(script())
        .arg("--url")
        .arg(format!("{}/mconnect/v1/soap", app.address))
        .arg("--cert")
        .arg(app.pki.cert(&holder))
        .arg("--key")
        .arg(app.pki.key(&holder))
        .arg("--ca")
        .arg(app.pki.ca_cert())
        .args(["--idnp", idnp, "--operation", operation])
        .args(["--calling-entity", idno(agency), "--calling-user", OFFICER])
        .args(["--call-basis", "Legea nr. 45/2007, art. 8"])
        .args([
            "--call-reason",
            "Intervenție la un apel de violență în familie",
        ])
        .args(["--message-id", message_id])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// Runs the zeep client as `agency` calling `operation` about `idnp`, with `extra` arguments.
async fn zeep_call(
    app: &TestApp,
    agency: &str,
    operation: &str,
    idnp: &str,
    extra: &[&str],
) -> ZeepRun {
    let dir = tempfile::tempdir().unwrap();
    let message_id = uuid::Uuid::new_v4().to_string();
    let request_file = dir.path().join("request.xml");
    let answer_file = dir.path().join("answer.xml");
    let output = zeep_client(app, agency, operation, idnp, &message_id)
        .arg("--save-request")
        .arg(&request_file)
        .arg("--save-answer")
        .arg(&answer_file)
        .args(extra)
        .output()
        .await
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let request = std::fs::read(&request_file).unwrap_or_default();
    let answer = std::fs::read(&answer_file).unwrap_or_default();
    let status = output.status.code().unwrap_or(-1);
    let parsed = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "the zeep client printed no JSON (exit {status}):\n{stderr}\nrequest sent:\n{}",
            String::from_utf8_lossy(&request)
        )
    });
    ZeepRun {
        status,
        output: parsed,
        message_id,
        request,
        answer,
    }
}

impl ZeepRun {
    /// Checks the binding the client verified against what the test itself sent.
    fn assert_bound(&self) {
        let binding = &self.output["mconnect"];
        assert_eq!(binding["requestHash"], request_hash(&self.request).as_str());
        assert!(
            binding["messageId"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
    }

    fn answer(&self) -> &Value {
        assert_eq!(self.status, 0, "{}", self.output);
        self.assert_bound();
        assert_eq!(
            self.output["mconnect"]["relatesTo"],
            self.message_id.as_str()
        );
        &self.output["answer"]
    }

    fn fault_code(&self) -> &str {
        assert_eq!(self.status, 2, "a verified SOAP Fault: {}", self.output);
        self.assert_bound();
        assert_eq!(self.output["fault"]["faultcode"], "soap:Client");
        self.output["fault"]["code"]
            .as_str()
            .expect("detail/mc:Code")
    }
}

#[tokio::test]
async fn zeep_as_the_police_gets_a_verified_answer_with_case_types_and_managers_only() {
    if !zeep_available() {
        return;
    }
    // Arrange
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;

    // Act
    let run = zeep_call(&app, "agency-police", "GetActiveCases", CHILD, &[]).await;

    // Assert
    let answer = run.answer();
    assert_eq!(answer["IDNP"], CHILD);
    assert_eq!(answer["HasActiveCase"], true);
    let cases = answer["Cases"]["Case"].as_array().expect("cases");
    let types: Vec<&str> = cases.iter().filter_map(|c| c["Type"].as_str()).collect();
    assert_eq!(types, ["child_protection", "domestic_violence"]);
    for case in cases {
        assert!(case["CaseManager"]["Name"].is_string(), "{case}");
        assert!(case["CaseManager"]["WorkPhone"].is_string(), "{case}");
        assert!(case["Agency"]["Code"].is_string(), "{case}");
        for withheld in ["Notes", "RiskLevel", "CaseId", "OpenedAt"] {
            assert!(
                case.get(withheld).is_none(),
                "{withheld} left the hub: {case}"
            );
        }
    }
    let rows = app.store.inbound_exchanges().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ExchangeStatus::Completed);
    assert_eq!(rows[0].client_id, "agency-police");
}

#[tokio::test]
async fn zeep_reports_an_event_and_reads_a_beneficiary_status() {
    if !zeep_available() {
        return;
    }
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    in_care(&app, MOTHER, "S-2").await;

    let event = zeep_call(
        &app,
        "agency-police",
        "NotifyCaseRelevantEvent",
        CHILD,
        &[
            "--occurred-at",
            "2026-11-30T22:10:00Z",
            "--reference",
            "IGP-2026-7781",
        ],
    )
    .await;
    let status = zeep_call(&app, "agency-clinic", "GetBeneficiaryStatus", MOTHER, &[]).await;

    let receipt = event.answer();
    assert_eq!(receipt["Status"], "accepted");
    assert_eq!(receipt["EventId"].as_str().map(str::len), Some(36));
    let answer = status.answer();
    assert_eq!(answer["Beneficiary"], true);
    let benefit = &answer["Benefits"]["Benefit"][0];
    assert_eq!(benefit["Code"], "ajutor-social");
    assert!(benefit.get("MonthlyAmount").is_none(), "{answer}");
    assert!(benefit.get("Since").is_none(), "{answer}");
}

#[tokio::test]
async fn zeep_gets_a_signed_fault_when_call_basis_is_unsigned_or_missing() {
    if !zeep_available() {
        return;
    }
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;

    let unsigned = zeep_call(
        &app,
        "agency-police",
        "GetActiveCases",
        CHILD,
        &["--unsigned-header", "CallBasis"],
    )
    .await;
    let missing = zeep_call(
        &app,
        "agency-police",
        "GetActiveCases",
        CHILD,
        &["--omit-header", "CallBasis"],
    )
    .await;

    assert_eq!(unsigned.fault_code(), "caller.incomplete_signature");
    // The hub does not echo the MessageId of a request whose signature it could not verify.
    assert_eq!(unsigned.output["mconnect"]["relatesTo"], "");
    assert_eq!(missing.fault_code(), "caller.missing_legal_basis");
    assert_eq!(
        missing.output["mconnect"]["relatesTo"],
        missing.message_id.as_str()
    );
}

/// A saved answer the zeep client checks again, altered or not, and what it must say of it.
struct Replay<'a> {
    case: &'a str,
    request: Vec<u8>,
    answer: String,
    message_id: &'a str,
    extra: &'a [&'a str],
    refusal: Option<&'a str>,
}

#[tokio::test]
async fn zeep_refuses_an_answer_altered_or_bound_to_another_request() {
    if !zeep_available() {
        return;
    }
    // Arrange: a real exchange, saved, then altered.
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    let run = zeep_call(&app, "agency-police", "GetActiveCases", CHILD, &[]).await;
    run.answer();
    let answer = String::from_utf8(run.answer.clone()).unwrap();
    assert!(
        answer.contains("<es:Type>child_protection</es:Type>"),
        "{answer}"
    );
    let other_id = uuid::Uuid::new_v4().to_string();
    let body_id = roxmltree::Document::parse(&answer)
        .unwrap()
        .descendants()
        .find(|n| n.has_tag_name("Body"))
        .and_then(|body| body.attribute((WSU_NS, "Id")))
        .expect("the Body's wsu:Id")
        .to_string();
    let replay = |case, refusal| Replay {
        case,
        request: run.request.clone(),
        answer: answer.clone(),
        message_id: &run.message_id,
        extra: &[],
        refusal,
    };
    let mut other_bytes = replay("the answer to other bytes", Some("RequestHash"));
    other_bytes.request.push(b'\n');
    let cases = [
        replay("untouched", None),
        Replay {
            answer: answer.replace(
                "<es:Type>child_protection</es:Type>",
                "<es:Type>disability</es:Type>",
            ),
            ..replay("a case type changed", Some("xmlsec"))
        },
        Replay {
            answer: answer.replacen("</soap:Header>", "<mc:Extra>x</mc:Extra></soap:Header>", 1),
            ..replay("an unsigned header added", Some("does not cover exactly"))
        },
        Replay {
            answer: answer.replacen(
                "<wsse:Security ",
                &format!("<wsse:Security xml:id=\"{body_id}\" "),
                1,
            ),
            ..replay(
                "the Body's id given to the Security header",
                Some("names two elements"),
            )
        },
        other_bytes,
        Replay {
            message_id: &other_id,
            ..replay("the answer to another MessageId", Some("RelatesTo"))
        },
        Replay {
            extra: &["--signer", "agency-police"],
            ..replay(
                "signed by another than expected",
                Some("not 'agency-police'"),
            )
        },
    ];

    for replay in cases {
        // Act
        let dir = tempfile::tempdir().unwrap();
        let (request_file, answer_file) = (dir.path().join("q.xml"), dir.path().join("a.xml"));
        std::fs::write(&request_file, &replay.request).unwrap();
        std::fs::write(&answer_file, &replay.answer).unwrap();
        let output = zeep_client(
            &app,
            "agency-police",
            "GetActiveCases",
            CHILD,
            replay.message_id,
        )
        .arg("--replay")
        .arg(&request_file)
        .arg(&answer_file)
        .args(replay.extra)
        .output()
        .await
        .expect("python3 runs");

        // Assert
        let case = replay.case;
        let stderr = String::from_utf8_lossy(&output.stderr);
        match replay.refusal {
            None => assert!(output.status.success(), "{case}: {stderr}"),
            Some(reason) => {
                assert_eq!(output.status.code(), Some(1), "{case}: {stderr}");
                assert!(stderr.contains(reason), "{case}: {stderr}");
                assert!(output.stdout.is_empty(), "{case}: nothing printed");
            }
        }
    }
}
