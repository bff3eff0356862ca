//! An agency as a test client of eSocial's MConnect services: its TLS client and signing keys,
//! signed SOAP and REST requests, and checks of the hub's signed answers.

use std::time::{Duration, SystemTime};

use esocial_hub::demo::DEMO_AGENCIES;
use esocial_wire::crypto::jws::{self, JwsSigner};
use esocial_wire::crypto::pki::client_holder;
use esocial_wire::crypto::wssec::{self, SigningIdentity, TrustAnchors};
use esocial_wire::mconnect::envelope::{self, CallContext, Envelope};
use esocial_wire::mconnect::{request_hash, xml};
use serde_json::{Value, json};

use crate::helpers::{TestApp, client_with};

/// A child with an open child-protection and an open domestic-violence case.
pub const CHILD: &str = "2999045120339";
/// A mother receiving social aid, with a domestic-violence case.
pub const MOTHER: &str = "2999045120111";
/// The officer acting for the police.
pub const OFFICER: &str = "2000000000004";

pub const ES_NS: &str = "https://esocial.gov.md/mconnect/v1";

pub fn idno(agency: &str) -> &'static str {
    DEMO_AGENCIES
        .iter()
        .find(|(name, _, _)| *name == agency)
        .map(|(_, idno, _)| *idno)
        .expect("a demo agency")
}

/// An agency as a test client: its TLS client and its signing keys.
pub struct Agency {
    pub name: &'static str,
    pub http: reqwest::Client,
    pub identity: SigningIdentity,
    pub jws: JwsSigner,
}

impl Agency {
    pub fn new(app: &TestApp, name: &'static str) -> Self {
        Self::signing_as(app, name, name)
    }

    /// Connects as `tls` but signs with the keys of `signer`.
    pub fn signing_as(app: &TestApp, tls: &'static str, signer: &str) -> Self {
        let holder = client_holder(signer);
        let key = std::fs::read(app.pki.key(&holder)).unwrap();
        let cert = std::fs::read(app.pki.cert(&holder)).unwrap();
        Self {
            name: tls,
            http: client_with(&app.pki, &client_holder(tls)),
            identity: SigningIdentity::from_pem(&key, &cert).unwrap(),
            jws: JwsSigner::from_pem(&key, &cert).unwrap(),
        }
    }

    pub fn context(&self) -> CallContext {
        CallContext {
            calling_user: OFFICER.into(),
            calling_entity: idno(self.name).into(),
            call_basis: "Legea nr. 45/2007, art. 8".into(),
            call_reason: "Intervenție la un apel de violență în familie".into(),
            message_id: uuid::Uuid::new_v4().to_string(),
            delivery: None,
        }
    }

    pub fn unsigned(&self, context: &CallContext, operation: &str, fields: &str) -> String {
        envelope::request(
            context,
            &format!(
                r#"<es:{operation}Request xmlns:es="{ES_NS}">{fields}</es:{operation}Request>"#
            ),
        )
    }

    pub fn sign(&self, unsigned: &str, at: SystemTime) -> String {
        wssec::sign_envelope(unsigned, &self.identity, at, wssec::DEFAULT_TTL).unwrap()
    }

    /// A signed SOAP request for `operation` about `idnp`.
    pub fn soap_request(&self, operation: &str, idnp: &str) -> String {
        let context = self.context();
        self.sign(
            &self.unsigned(&context, operation, &format!("<es:IDNP>{idnp}</es:IDNP>")),
            SystemTime::now(),
        )
    }

    pub async fn post_soap(&self, app: &TestApp, body: String) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}/mconnect/v1/soap", app.address))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub fn rest_request(&self, context: &CallContext, request: Value) -> String {
        let payload = context.rest_payload(request);
        jws::sign_compact(
            payload.to_string().as_bytes(),
            &self.jws,
            SystemTime::now(),
            Duration::from_secs(300),
        )
        .unwrap()
    }

    pub async fn post_rest(&self, app: &TestApp, path: &str, token: String) -> reqwest::Response {
        self.http
            .post(format!("{}/mconnect/v1/{path}", app.address))
            .header("Content-Type", "application/jose")
            .body(token)
            .send()
            .await
            .unwrap()
    }
}

/// Registers `idnp` in the master index, as eSocial does for everyone in its care.
pub async fn in_care(app: &TestApp, idnp: &str, local_id: &str) {
    let response = app
        .post_json(
            "/api/v1/persons/records",
            &json!({"source": "social", "record": {
                "localId": local_id, "idnp": idnp, "firstName": "Ana", "lastName": "Ceban",
                "birthDate": "2014-05-03", "sex": "F"}}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

pub fn trust(app: &TestApp) -> TrustAnchors {
    TrustAnchors::from_pem(&std::fs::read(app.pki.ca_cert()).unwrap()).unwrap()
}

/// Verifies a SOAP answer's signature and its binding to `request`; returns the answer text.
pub fn verified_answer(app: &TestApp, request: &str, answer: &str) -> String {
    let verified = wssec::verify_envelope(answer, &trust(app), SystemTime::now())
        .unwrap_or_else(|e| panic!("answer signature: {e}\n{answer}"));
    let signer = esocial_wire::mconnect::client::common_name(&verified.signer_certificate_der);
    assert_eq!(signer.as_deref(), Some("hub"));
    let document = xml::parse(answer).unwrap();
    let binding = Envelope::read(&document).unwrap().binding().expect("bound");
    let request_doc = xml::parse(request).unwrap();
    let request_id = Envelope::read(&request_doc)
        .unwrap()
        .mconnect_header("MessageId")
        .unwrap();
    assert_eq!(binding.relates_to, request_id);
    assert_eq!(binding.request_hash, request_hash(request.as_bytes()));
    answer.to_string()
}

/// The stable code of a signed SOAP fault.
pub fn fault_code(app: &TestApp, request: &str, status: u16, answer: &str) -> String {
    assert_eq!(status, 500, "{answer}");
    wssec::verify_envelope(answer, &trust(app), SystemTime::now())
        .unwrap_or_else(|e| panic!("fault signature: {e}"));
    let _ = request;
    let document = xml::parse(answer).unwrap();
    document
        .descendants()
        .find(|n| n.has_tag_name("Code"))
        .map(xml::text_of)
        .expect("detail/mc:Code")
}

/// The element texts below the answer payload, by local name.
pub fn texts(answer: &str, name: &str) -> Vec<String> {
    let document = xml::parse(answer).unwrap();
    document
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == name)
        .map(xml::text_of)
        .collect()
}
