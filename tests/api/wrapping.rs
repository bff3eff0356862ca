//! XML signature wrapping on the provider side: the signed Body is the Body that is processed.
//!
//! Every test starts from a GetActiveCases request the police genuinely signed about CHILD and
//! forges it to ask about MOTHER (in care, with a case the police may see) while keeping the
//! police's signature as intact as the forgery allows: the wrapping attacks XSW1–XSW8 of Somorovsky
//! et al., "On Breaking SAML: Be Whoever You Want to Be" (USENIX Security 2012), as WS-Attacker
//! applies them to SOAP and WS-Security; duplicate IDs; extra Security headers and signatures;
//! comments, processing instructions and CDATA in signed text; a shadowed header; and reference
//! transforms that sign less than the Body. Where the forgery leaves the XML signature itself
//! valid, the test says so first, so that the refusal is seen to come from the hub's anti-wrapping
//! checks and not from a broken digest. Each forgery must end in a signed fault with its stable
//! code, naming no person, the refusal recorded and the case-management registry never asked.

use esocial_store::ExchangeStatus;
use esocial_wire::crypto::pki::client_holder;
use esocial_wire::crypto::wssec::{DS_NS, WSSE_NS, WSU_NS};
use esocial_wire::mconnect::envelope::{Envelope, SOAP_NS};
use esocial_wire::mconnect::xml;

use crate::agency::{
    Agency, CHILD, ES_NS, MOTHER, OFFICER, fault_code, in_care, texts, verified_answer,
};
use crate::helpers::{TestApp, spawn_app};

const INCOMPLETE: &str = "caller.incomplete_signature";
const INVALID: &str = "caller.invalid_signature";
const MALFORMED: &str = "caller.malformed_message";

const POLICE: &str = "agency-police";
/// A legal basis the police did not sign.
const FORGED_BASIS: &str = "Legea nr. 133/2011, art. 5";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// A request the police signed: GetActiveCases about CHILD.
struct Signed(String);

impl Signed {
    fn by(police: &Agency) -> Self {
        Self(police.soap_request("GetActiveCases", CHILD))
    }

    fn text(&self) -> &str {
        &self.0
    }

    /// The signed `soap:Body` element, as signed.
    fn body(&self) -> &str {
        element(&self.0, "<soap:Body", "</soap:Body>")
    }

    /// The `wsu:Id` the signature's Body reference points at.
    fn body_id(&self) -> &str {
        attribute(self.body(), "wsu:Id")
    }

    /// The signed `mc:CallBasis` header, as signed.
    fn call_basis(&self) -> &str {
        element(&self.0, "<mc:CallBasis", "</mc:CallBasis>")
    }

    /// The envelope with `replacement` where the signed Body was.
    fn with_body(&self, replacement: &str) -> String {
        self.0.replacen(self.body(), replacement, 1)
    }

    /// The envelope with `replacement` where the signed CallBasis was.
    fn with_call_basis(&self, replacement: &str) -> String {
        self.0.replacen(self.call_basis(), replacement, 1)
    }
}

/// The text of the first element of `xml` from `open` (the start of its start tag) to `close`.
fn element<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
    let start = xml.find(open).expect("element present");
    let end = start + xml[start..].find(close).expect("element closed") + close.len();
    &xml[start..end]
}

/// The value of the first `name="..."` attribute in `xml`.
fn attribute<'a>(xml: &'a str, name: &str) -> &'a str {
    let marker = format!("{name}=\"");
    let start = xml.find(&marker).expect("attribute present") + marker.len();
    let end = start + xml[start..].find('"').expect("attribute closed");
    &xml[start..end]
}

/// A Body asking GetActiveCases about MOTHER, with `attributes` on its start tag.
fn forged_body(attributes: &str) -> String {
    format!(
        r#"<soap:Body{attributes}><es:GetActiveCasesRequest xmlns:es="{ES_NS}"><es:IDNP>{MOTHER}</es:IDNP></es:GetActiveCasesRequest></soap:Body>"#
    )
}

/// A `wsu:Id` attribute, with its namespace declaration.
fn wsu_id(id: &str) -> String {
    format!(r#" xmlns:wsu="{WSU_NS}" wsu:Id="{id}""#)
}

/// An element of no known namespace around `content`.
fn wrapper(content: &str) -> String {
    format!(r#"<w:Wrapper xmlns:w="urn:example:wrapper">{content}</w:Wrapper>"#)
}

/// `envelope` with `xml` as the first child of `soap:Header`.
fn first_in_header(envelope: &str, xml: &str) -> String {
    envelope.replacen("<soap:Header>", &format!("<soap:Header>{xml}"), 1)
}

/// `envelope` with `xml` right after the `wsse:Security` header.
fn after_security(envelope: &str, xml: &str) -> String {
    envelope.replacen("</wsse:Security>", &format!("</wsse:Security>{xml}"), 1)
}

/// `envelope` with `xml` as the last child of `wsse:Security`.
fn last_in_security(envelope: &str, xml: &str) -> String {
    envelope.replacen("</wsse:Security>", &format!("{xml}</wsse:Security>"), 1)
}

/// `envelope` with `xml` right before the police's `ds:Signature`.
fn before_signature(envelope: &str, xml: &str) -> String {
    envelope.replacen("<ds:Signature ", &format!("{xml}<ds:Signature "), 1)
}

/// `envelope` with `xml` as the last child of the police's `ds:Signature`.
fn last_in_signature(envelope: &str, xml: &str) -> String {
    envelope.replacen("</ds:Signature>", &format!("{xml}</ds:Signature>"), 1)
}

/// The subject the hub would read from `envelope`'s Body if the signature checks let it through.
fn subject_as_read(envelope: &str) -> Option<String> {
    let document = xml::parse(envelope).ok()?;
    let envelope = Envelope::read(&document).ok()?;
    xml::child(envelope.payload()?, "IDNP").map(xml::text_of)
}

/// The MConnect header `name` as the hub would read it from `envelope`.
fn header_as_read(envelope: &str, name: &str) -> Option<String> {
    let document = xml::parse(envelope).ok()?;
    Envelope::read(&document).ok()?.mconnect_header(name)
}

fn police_certificate(app: &TestApp) -> openssl::x509::X509 {
    let pem = std::fs::read(app.pki.cert(&client_holder(POLICE))).unwrap();
    openssl::x509::X509::from_pem(&pem).unwrap()
}

/// Whether the first `ds:Signature` of `envelope` verifies as plain XML-DSig with the police's
/// key: references resolved by ID, digests and signature value checked, but no question asked
/// about where the signed elements sit.
fn dsig_verifies(app: &TestApp, envelope: &str) -> bool {
    let spki = police_certificate(app)
        .public_key()
        .unwrap()
        .public_key_to_der()
        .unwrap();
    let mut keys = bergshamra::KeysManager::new();
    keys.add_key(bergshamra::keys::loader::load_spki_der(&spki).unwrap());
    let context = bergshamra::DsigContext::new(keys)
        .with_strict_verification(false)
        .with_require_reference_digests(true);
    matches!(
        bergshamra::verify(&context, envelope),
        Ok(bergshamra::VerifyResult::Valid { .. })
    )
}

/// `signed` signed again by the police with `reference` instead of its Body reference, as an
/// agency whose own XML-DSig stack signs the Body some other way would send it. `reference`
/// has an empty DigestValue, for the signer to fill in.
fn resigned_with_body_reference(app: &TestApp, signed: &Signed, reference: &str) -> String {
    let body_reference = element(
        signed.text(),
        &format!("<ds:Reference URI=\"#{}\"", signed.body_id()),
        "</ds:Reference>",
    );
    let signature_value = element(signed.text(), "<ds:SignatureValue>", "</ds:SignatureValue>");
    let template = signed
        .text()
        .replacen(body_reference, reference, 1)
        .replacen(
            signature_value,
            "<ds:SignatureValue></ds:SignatureValue>",
            1,
        );
    let key = std::fs::read(app.pki.key(&client_holder(POLICE))).unwrap();
    let pkcs8 = openssl::pkey::PKey::private_key_from_pem(&key)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    let mut keys = bergshamra::KeysManager::new();
    keys.add_key(bergshamra::keys::loader::load_pem_auto(&pkcs8, None).unwrap());
    bergshamra::sign(&bergshamra::DsigContext::new(keys), &template).unwrap()
}

/// A hub with CHILD and MOTHER in care, the police as a client, and a request they signed.
async fn arrange() -> (TestApp, Agency, Signed) {
    let app = spawn_app().await;
    in_care(&app, CHILD, "S-1").await;
    in_care(&app, MOTHER, "S-2").await;
    let police = Agency::new(&app, POLICE);
    let signed = Signed::by(&police);
    (app, police, signed)
}

/// The answer is a signed fault with `code`; it names no person; the refusal is recorded
/// with that code, with no legal basis the police did not sign, and the case-management
/// registry was never asked.
async fn assert_refused(app: &TestApp, forged: &str, status: u16, answer: &str, code: &str) {
    assert_eq!(fault_code(app, forged, status, answer), code, "{answer}");
    for person in [MOTHER, CHILD, OFFICER] {
        assert!(
            !answer.contains(person),
            "personal data in the fault: {answer}"
        );
    }
    assert!(!answer.contains(FORGED_BASIS), "{answer}");
    let rows = app.store.inbound_exchanges().await.unwrap();
    assert_eq!(rows.len(), 1, "one request, one record");
    assert_eq!(rows[0].status, ExchangeStatus::Failed);
    assert_eq!(rows[0].error_code.as_deref(), Some(code));
    assert_ne!(rows[0].legal_basis, FORGED_BASIS);
    let asked = app.store.children_of(rows[0].id).await.unwrap();
    assert!(asked.is_empty(), "the case registry was asked");
}

// ---------------------------------------------------------------------------------------------
// What a forgery would get if it went through
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_signed_request_the_forgeries_start_from_is_answered_about_the_child() {
    // Arrange
    let (app, police, signed) = arrange().await;
    assert!(dsig_verifies(&app, signed.text()));

    // Act
    let (status, answer) = police.post_soap(&app, signed.text().to_owned()).await;

    // Assert
    assert_eq!(status, 200, "{answer}");
    let answer = verified_answer(&app, signed.text(), &answer);
    assert_eq!(texts(&answer, "IDNP"), [CHILD]);
}

#[tokio::test]
async fn the_police_signing_about_the_mother_would_learn_of_her_case() {
    // Arrange
    let (app, police, _) = arrange().await;
    let request = police.soap_request("GetActiveCases", MOTHER);

    // Act
    let (status, answer) = police.post_soap(&app, request.clone()).await;

    // Assert
    assert_eq!(status, 200, "{answer}");
    let answer = verified_answer(&app, &request, &answer);
    assert_eq!(texts(&answer, "IDNP"), [MOTHER]);
    assert_eq!(texts(&answer, "HasActiveCase"), ["true"]);
}

// ---------------------------------------------------------------------------------------------
// XSW1–XSW8: the signed Body moved, a forged one in its place
// ---------------------------------------------------------------------------------------------

/// XSW1: the signed Body inside a new Header child; a forged Body, without an ID, in its place.
#[tokio::test]
async fn xsw1_signed_body_moved_into_a_new_header_child() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let forged = first_in_header(&signed.with_body(&forged_body("")), &wrapper(signed.body()));
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INCOMPLETE).await;
}

/// XSW2: the signed Body inside the Security header; the forged Body has an ID of its own.
#[tokio::test]
async fn xsw2_signed_body_moved_into_the_security_header() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let forged = last_in_security(
        &signed.with_body(&forged_body(&wsu_id("forged-body"))),
        &wrapper(signed.body()),
    );
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INCOMPLETE).await;
}

/// XSW3: the signed Body in a wrapper inside the forged Body, after the forged payload.
#[tokio::test]
async fn xsw3_signed_body_wrapped_inside_the_forged_body() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let forged_with_original = forged_body(&wsu_id("forged-body")).replacen(
        "</soap:Body>",
        &format!("{}</soap:Body>", wrapper(signed.body())),
        1,
    );
    let forged = signed.with_body(&forged_with_original);
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INCOMPLETE).await;
}

/// XSW4: the signed Body inside `ds:Object/ds:SignatureProperties` of the police's signature.
#[tokio::test]
async fn xsw4_signed_body_moved_into_a_signature_property() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let object = format!(
        "<ds:Object><ds:SignatureProperties><ds:SignatureProperty Target=\"#sig\">{}\
</ds:SignatureProperty></ds:SignatureProperties></ds:Object>",
        signed.body()
    );
    let forged = last_in_signature(
        &signed.with_body(&forged_body(&wsu_id("forged-body"))),
        &object,
    );
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INCOMPLETE).await;
}

/// XSW5: the forged Body first, the signed one kept as its sibling after it.
#[tokio::test]
async fn xsw5_signed_body_kept_as_a_sibling_after_the_forged_body() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let forged = signed.with_body(&format!(
        "{}{}",
        forged_body(&wsu_id("forged-body")),
        signed.body()
    ));
    assert!(dsig_verifies(&app, &forged));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, MALFORMED).await;
}

/// XSW6: the forged Body carries the signed Body's `wsu:Id`; the signed Body sits in a header.
#[tokio::test]
async fn xsw6_forged_body_takes_the_wsu_id_of_the_signed_body() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let forged = first_in_header(
        &signed.with_body(&forged_body(&wsu_id(signed.body_id()))),
        &wrapper(signed.body()),
    );
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INVALID).await;
}

/// XSW7: the signed Body moved into a header, and the forged Body claims its ID through
/// another ID attribute (`Id`, `ID` or `xml:id`), so that a verifier resolving `wsu:Id` finds
/// the signed Body while a check that the real Body bears the referenced ID would pass.
async fn id_shifted_through(attribute_name: &str) {
    // Arrange
    let (app, police, signed) = arrange().await;
    let claim = format!(" {attribute_name}=\"{}\"", signed.body_id());
    let forged = first_in_header(
        &signed.with_body(&forged_body(&claim)),
        &wrapper(signed.body()),
    );
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INVALID).await;
}

#[tokio::test]
async fn xsw7_id_shifted_to_the_forged_body_through_id() {
    id_shifted_through("Id").await;
}

#[tokio::test]
async fn xsw7_id_shifted_to_the_forged_body_through_upper_case_id() {
    id_shifted_through("ID").await;
}

#[tokio::test]
async fn xsw7_id_shifted_to_the_forged_body_through_xml_id() {
    id_shifted_through("xml:id").await;
}

/// XSW8: a Body in another namespace, written `soap:Body` with the prefix rebound, ahead of the
/// signed Body, for a reader that goes by prefix.
#[tokio::test]
async fn xsw8_forged_body_in_another_namespace_ahead_of_the_signed_body() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let foreign = forged_body(" xmlns:soap=\"urn:example:not-soap\"");
    let forged = signed.with_body(&format!("{foreign}{}", signed.body()));
    assert!(dsig_verifies(&app, &forged));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, MALFORMED).await;
}

/// XSW8: the forged Body written unprefixed under a default-namespace redeclaration; the signed
/// Body in a header under a decoy `Envelope` of another default namespace, for a verifier that
/// goes by local names.
#[tokio::test]
async fn xsw8_forged_body_through_a_default_namespace_redeclaration() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let unprefixed = forged_body(&format!(" xmlns=\"{SOAP_NS}\"{}", wsu_id("forged-body")))
        .replacen("<soap:Body", "<Body", 1)
        .replacen("</soap:Body>", "</Body>", 1);
    let decoy = format!(
        "<Envelope xmlns=\"urn:example:decoy\">{}</Envelope>",
        signed.body()
    );
    let forged = first_in_header(&signed.with_body(&unprefixed), &decoy);
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INCOMPLETE).await;
}

/// XSW8: the forged Body carries the signed Body's ID as `Id` of another namespace than
/// `wsu`, for a verifier that resolves only `wsu:Id` and a check that reads `Id` by local name.
#[tokio::test]
async fn xsw8_forged_body_claims_the_id_in_a_foreign_namespace() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let claim = format!(
        " xmlns:u=\"urn:example:not-wsu\" u:Id=\"{}\"",
        signed.body_id()
    );
    let forged = first_in_header(
        &signed.with_body(&forged_body(&claim)),
        &wrapper(signed.body()),
    );
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INVALID).await;
}

// ---------------------------------------------------------------------------------------------
// Duplicate IDs
// ---------------------------------------------------------------------------------------------

/// Two elements with the same `wsu:Id`: the forged Body and, inside it after the forged
/// payload, the signed Body (a verifier whose ID lookup keeps the last one finds the signed
/// Body; the reader takes the first payload).
#[tokio::test]
async fn two_elements_with_the_wsu_id_of_the_signed_body() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let forged_with_original = forged_body(&wsu_id(signed.body_id())).replacen(
        "</soap:Body>",
        &format!("{}</soap:Body>", wrapper(signed.body())),
        1,
    );
    let forged = signed.with_body(&forged_with_original);
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INVALID).await;
}

/// The forged Body carries the signed Body's ID twice, as `wsu:Id` and as `Id`; the signed
/// Body sits in the Security header.
#[tokio::test]
async fn the_signed_body_id_in_both_id_and_wsu_id_of_the_forged_body() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let id = signed.body_id();
    let forged = last_in_security(
        &signed.with_body(&forged_body(&format!("{} Id=\"{id}\"", wsu_id(id)))),
        &wrapper(signed.body()),
    );
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INVALID).await;
}

// ---------------------------------------------------------------------------------------------
// More than one Security header or signature
// ---------------------------------------------------------------------------------------------

/// A `wsse:Security` header addressed to another SOAP actor (as SOAP 1.1 allows several),
/// holding `content`.
fn second_security_header(content: &str) -> String {
    format!(
        "<wsse:Security xmlns:wsse=\"{WSSE_NS}\" soap:actor=\"urn:example:next-hop\">{content}</wsse:Security>"
    )
}

/// A second `wsse:Security` header, for another actor and holding the signed Body, ahead of
/// the police's.
#[tokio::test]
async fn a_second_security_header_before_the_signed_one() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let second = second_security_header(signed.body());
    let forged = first_in_header(
        &signed.with_body(&forged_body(&wsu_id("forged-body"))),
        &second,
    );
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, MALFORMED).await;
}

/// A second `wsse:Security` header, for another actor and holding the signed Body, after the
/// police's.
#[tokio::test]
async fn a_second_security_header_after_the_signed_one() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let second = second_security_header(signed.body());
    let forged = after_security(
        &signed.with_body(&forged_body(&wsu_id("forged-body"))),
        &second,
    );
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, MALFORMED).await;
}

/// A second `ds:Signature` in the Security header, ahead of the police's (the first in document
/// order is the one a DSig library verifies): a copy of it, carrying the signed Body in its
/// `ds:Object`.
#[tokio::test]
async fn a_second_signature_in_the_security_header() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let signature = element(signed.text(), "<ds:Signature ", "</ds:Signature>");
    let copy = signature.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{}</ds:Object></ds:Signature>", signed.body()),
        1,
    );
    let forged = before_signature(
        &signed.with_body(&forged_body(&wsu_id("forged-body"))),
        &copy,
    );
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, MALFORMED).await;
}

// ---------------------------------------------------------------------------------------------
// Comments, processing instructions and CDATA
// ---------------------------------------------------------------------------------------------

/// A comment splitting the signed CallingUser: exclusive C14N drops it, so the digest still
/// matches, while a reader stopping at the comment would see `2000`.
#[tokio::test]
async fn a_comment_inside_the_signed_calling_user() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let split = format!(
        ">{}<!---->{}</mc:CallingUser>",
        &OFFICER[..4],
        &OFFICER[4..]
    );
    let forged = signed
        .text()
        .replacen(&format!(">{OFFICER}</mc:CallingUser>"), &split, 1);
    assert_ne!(forged, signed.text());
    assert!(dsig_verifies(&app, &forged));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, MALFORMED).await;
}

/// A comment splitting the signed subject IDNP in the Body.
#[tokio::test]
async fn a_comment_inside_the_signed_subject() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let split = format!("<es:IDNP>{}<!---->{}</es:IDNP>", &CHILD[..7], &CHILD[7..]);
    let forged = signed
        .text()
        .replacen(&format!("<es:IDNP>{CHILD}</es:IDNP>"), &split, 1);
    assert_ne!(forged, signed.text());
    assert!(dsig_verifies(&app, &forged));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, MALFORMED).await;
}

/// A processing instruction naming another subject, between signed headers, where no digest
/// covers it.
#[tokio::test]
async fn a_processing_instruction_between_signed_headers() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let forged = after_security(signed.text(), &format!("<?esocial-subject {MOTHER}?>"));
    assert!(dsig_verifies(&app, &forged));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, MALFORMED).await;
}

/// CDATA is only another spelling of text: exclusive C14N turns it back into text, so a subject
/// written in CDATA is digested as what it says and the police's digest no longer matches.
#[tokio::test]
async fn cdata_does_not_carry_another_subject_past_the_digest() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let cdata = format!("<es:IDNP><![CDATA[{MOTHER}]]></es:IDNP>");
    let forged = signed
        .text()
        .replacen(&format!("<es:IDNP>{CHILD}</es:IDNP>"), &cdata, 1);
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INVALID).await;
}

/// The signed subject split by a CDATA section verifies, and is read whole: the subject
/// processed is the one signed, not the text before or after the split.
#[tokio::test]
async fn a_signed_subject_split_by_cdata_is_read_whole() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let split = format!(
        "<es:IDNP>{}<![CDATA[{}]]></es:IDNP>",
        &CHILD[..7],
        &CHILD[7..]
    );
    let respelled = signed
        .text()
        .replacen(&format!("<es:IDNP>{CHILD}</es:IDNP>"), &split, 1);
    assert_ne!(respelled, signed.text());
    assert!(dsig_verifies(&app, &respelled));

    // Act
    let (status, answer) = police.post_soap(&app, respelled.clone()).await;

    // Assert
    assert_eq!(status, 200, "{answer}");
    let answer = verified_answer(&app, &respelled, &answer);
    assert_eq!(texts(&answer, "IDNP"), [CHILD]);
}

// ---------------------------------------------------------------------------------------------
// A signed header shadowed by an unsigned one
// ---------------------------------------------------------------------------------------------

/// An unsigned CallBasis, under another prefix for the same namespace, ahead of the signed one.
#[tokio::test]
async fn an_unsigned_call_basis_ahead_of_the_signed_one() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let unsigned =
        format!("<m:CallBasis xmlns:m=\"https://mconnect.gov.md\">{FORGED_BASIS}</m:CallBasis>");
    let forged = signed.with_call_basis(&format!("{unsigned}{}", signed.call_basis()));
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(
        header_as_read(&forged, "CallBasis").as_deref(),
        Some(FORGED_BASIS)
    );

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, MALFORMED).await;
}

/// The signed CallBasis moved into a wrapper header, an unsigned one in its place.
#[tokio::test]
async fn the_signed_call_basis_wrapped_and_shadowed() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let unsigned = format!("<mc:CallBasis>{FORGED_BASIS}</mc:CallBasis>");
    let forged = signed.with_call_basis(&format!("{unsigned}{}", wrapper(signed.call_basis())));
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(
        header_as_read(&forged, "CallBasis").as_deref(),
        Some(FORGED_BASIS)
    );

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INCOMPLETE).await;
}

/// The signed CallBasis moved into the Security header, an unsigned one with an ID of its own
/// in its place.
#[tokio::test]
async fn the_signed_call_basis_moved_into_the_security_header_and_shadowed() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let unsigned = format!(
        "<mc:CallBasis{}>{FORGED_BASIS}</mc:CallBasis>",
        wsu_id("forged-basis")
    );
    let forged = last_in_security(&signed.with_call_basis(&unsigned), signed.call_basis());
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(
        header_as_read(&forged, "CallBasis").as_deref(),
        Some(FORGED_BASIS)
    );

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INCOMPLETE).await;
}

/// The signed CallBasis renamed out of the MConnect namespace (its prefix rebound on itself), an
/// unsigned one with an ID of its own under the real name in its place.
#[tokio::test]
async fn the_signed_call_basis_renamed_into_another_namespace_and_shadowed() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let renamed = signed.call_basis().replacen(
        "<mc:CallBasis ",
        "<mc:CallBasis xmlns:mc=\"urn:example:renamed\" ",
        1,
    );
    let unsigned = format!(
        "<mc:CallBasis{}>{FORGED_BASIS}</mc:CallBasis>",
        wsu_id("forged-basis")
    );
    let forged = signed.with_call_basis(&format!("{unsigned}{renamed}"));
    assert_eq!(
        header_as_read(&forged, "CallBasis").as_deref(),
        Some(FORGED_BASIS)
    );

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INCOMPLETE).await;
}

// ---------------------------------------------------------------------------------------------
// References that sign less than the Body, or more than a bare #id
// ---------------------------------------------------------------------------------------------

/// The police's stack signs the Body through an XPath filter that leaves the subject out; the
/// subject is then changed. The XML signature stays valid.
#[tokio::test]
async fn an_xpath_filter_that_leaves_the_subject_unsigned() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let reference = format!(
        "<ds:Reference URI=\"#{id}\"><ds:Transforms>\
<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">\
<ds:XPath xmlns:es=\"{ES_NS}\">not(ancestor-or-self::es:IDNP)</ds:XPath></ds:Transform>\
<ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>",
        id = signed.body_id()
    );
    let resigned = resigned_with_body_reference(&app, &signed, &reference);
    let forged = resigned.replacen(
        &format!("<es:IDNP>{CHILD}</es:IDNP>"),
        &format!("<es:IDNP>{MOTHER}</es:IDNP>"),
        1,
    );
    assert!(dsig_verifies(&app, &forged));
    assert_eq!(subject_as_read(&forged).as_deref(), Some(MOTHER));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INVALID).await;
}

/// The police's stack signs the whole document (`URI=""`) with the enveloped-signature
/// transform instead of the Body by its ID; a forged Body is then hidden in the signature,
/// which that transform leaves undigested.
#[tokio::test]
async fn a_whole_document_reference_with_the_enveloped_signature_transform() {
    // Arrange
    let (app, police, signed) = arrange().await;
    let reference = format!(
        "<ds:Reference URI=\"\"><ds:Transforms>\
<ds:Transform Algorithm=\"{DS_NS}enveloped-signature\"/>\
<ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>"
    );
    let resigned = resigned_with_body_reference(&app, &signed, &reference);
    let forged = last_in_signature(
        &resigned,
        &format!("<ds:Object>{}</ds:Object>", forged_body("")),
    );
    assert!(dsig_verifies(&app, &forged));

    // Act
    let (status, answer) = police.post_soap(&app, forged.clone()).await;

    // Assert
    assert_refused(&app, &forged, status, &answer, INCOMPLETE).await;
}
