//! Client and registry certificates: one common name, and revocation through the CA's CRL.

use esocial_hub::config::RevocationSettings;
use esocial_hub::demo::{DEMO_CLIENT, DEMO_UNGRANTED_CLIENT};
use esocial_store::ExchangeStatus;
use esocial_wire::crypto::pki::{
    CertificateRole, KeyPair, PkiLayout, issue_leaf, revoked_entry, sign_crl,
};
use openssl::asn1::Asn1Time;
use openssl::x509::{X509, X509NameBuilder};

use esocial_wire::crypto::jws::JwsSigner;
use esocial_wire::crypto::wssec::SigningIdentity;
use serde_json::json;

use crate::agency::{Agency, MOTHER};
use crate::helpers::{
    SpawnOptions, assert_problem, client_with_pair, shared_pki, spawn_app, spawn_app_with,
};

/// The development CA of the shared PKI, with its key.
fn dev_ca(pki: &PkiLayout) -> KeyPair {
    KeyPair {
        certificate: X509::from_pem(&std::fs::read(pki.ca_cert()).unwrap()).unwrap(),
        key: openssl::pkey::PKey::private_key_from_pem(&std::fs::read(pki.ca_key()).unwrap())
            .unwrap(),
    }
}

/// Settings reading one CRL of the development CA listing `revoked`, written to `dir`.
fn crl_revoking(ca: &KeyPair, revoked: &[&X509], dir: &tempfile::TempDir) -> RevocationSettings {
    let now = Asn1Time::days_from_now(0).unwrap();
    let entries = revoked
        .iter()
        .map(|certificate| revoked_entry(certificate.serial_number(), &now).unwrap())
        .collect();
    let crl = sign_crl(ca, entries, 7, &now, &Asn1Time::days_from_now(1).unwrap()).unwrap();
    let path = dir.path().join("crl.pem");
    std::fs::write(&path, crl.to_pem().unwrap()).unwrap();
    RevocationSettings {
        crl_files: vec![path],
        ..RevocationSettings::default()
    }
}

#[tokio::test]
async fn a_revoked_client_certificate_cannot_connect() {
    // Arrange: a second certificate of the registered client, revoked.
    let ca = dev_ca(&shared_pki(&[]));
    let revoked = issue_leaf(&ca, DEMO_CLIENT, CertificateRole::Client).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(SpawnOptions {
        revocation: Some(crl_revoking(&ca, &[&revoked.certificate], &dir)),
        ..SpawnOptions::default()
    })
    .await;
    let revoked_client = client_with_pair(&app.pki, &revoked);

    // Act
    let refused = app
        .post_exchange_raw(
            &revoked_client,
            app.valid_request().to_string().into_bytes(),
        )
        .await;
    let accepted = app.post_exchange(&app.valid_request()).await;

    // Assert
    assert!(refused.is_err(), "the TLS handshake must fail");
    assert_eq!(accepted.status().as_u16(), 200);
}

#[tokio::test]
async fn a_client_certificate_with_two_common_names_identifies_nobody() {
    // Arrange: a certificate from the trusted CA naming both registered clients.
    let app = spawn_app().await;
    let ca = dev_ca(&app.pki);
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", DEMO_CLIENT).unwrap();
    name.append_entry_by_text("CN", DEMO_UNGRANTED_CLIENT)
        .unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    builder
        .set_serial_number(
            &openssl::bn::BigNum::from_u32(42)
                .unwrap()
                .to_asn1_integer()
                .unwrap(),
        )
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder
        .set_issuer_name(ca.certificate.subject_name())
        .unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    builder
        .sign(&ca.key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    let two_names = KeyPair {
        certificate: builder.build(),
        key,
    };

    // Act
    let response = app
        .post_exchange_as(
            &client_with_pair(&app.pki, &two_names),
            &app.valid_request(),
        )
        .await;

    // Assert
    assert_problem(response, 401, "caller.no_client_certificate").await;
}

#[tokio::test]
async fn a_registry_whose_certificate_is_revoked_is_not_used() {
    // Arrange: the certificates of a SOAP and a REST registry are revoked.
    let pki = shared_pki(&["civil".to_string(), "health".to_string()]);
    let ca = dev_ca(&pki);
    let certificate =
        |holder: &str| X509::from_pem(&std::fs::read(pki.cert(holder)).unwrap()).unwrap();
    let revoked = [
        certificate("registry-civil"),
        certificate("registry-health"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(SpawnOptions {
        revocation: Some(crl_revoking(&ca, &[&revoked[0], &revoked[1]], &dir)),
        ..SpawnOptions::default()
    })
    .await;

    for service in ["civil.person-details", "health.insurance-status"] {
        // Act
        let response = app.post_exchange(&app.request_for(service)).await;

        // Assert
        let problem = assert_problem(response, 502, "registry.invalid_signature").await;
        assert_eq!(problem["retryable"], false);
        let id = problem["exchangeId"].as_str().unwrap().parse().unwrap();
        let record = app.store.exchange(id).await.unwrap().unwrap();
        assert_eq!(record.status, ExchangeStatus::Failed, "{service}");
    }
}

#[tokio::test]
async fn a_registry_presenting_another_holders_tls_certificate_is_refused() {
    // Arrange: the civil registry's address answers with the hub's certificate (same CA, valid
    // for the address) while signing its answers with the civil registry's key.
    let app = spawn_app_with(SpawnOptions {
        impostor_tls: vec!["civil"],
        ..SpawnOptions::default()
    })
    .await;

    // Act
    let refused = app
        .post_exchange(&app.request_for("civil.person-details"))
        .await;
    let accepted = app
        .post_exchange(&app.request_for("health.insurance-status"))
        .await;

    // Assert
    assert_problem(refused, 502, "registry.invalid_signature").await;
    assert_eq!(accepted.status().as_u16(), 200);
}

#[tokio::test]
async fn an_agency_request_signed_with_a_revoked_certificate_is_refused() {
    // Arrange: the clinic connects with its certificate but signs with another one of its own
    // (same common name), which is revoked.
    let ca = dev_ca(&shared_pki(&[]));
    let revoked = issue_leaf(&ca, "agency-clinic", CertificateRole::Client).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(SpawnOptions {
        revocation: Some(crl_revoking(&ca, &[&revoked.certificate], &dir)),
        ..SpawnOptions::default()
    })
    .await;
    let key = revoked.key_pem().unwrap();
    let cert = revoked.certificate_pem().unwrap();
    let clinic = Agency {
        identity: SigningIdentity::from_pem(&key, &cert).unwrap(),
        jws: JwsSigner::from_pem(&key, &cert).unwrap(),
        ..Agency::new(&app, "agency-clinic")
    };
    let token = clinic.rest_request(&clinic.context(), json!({"idnp": MOTHER}));

    // Act
    let response = clinic.post_rest(&app, "beneficiary-status", token).await;

    // Assert
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("caller.untrusted_signer"), "{body}");

    // The same over SOAP: WS-Security signers are checked against the CRLs too.
    let request = clinic.soap_request("GetBeneficiaryStatus", MOTHER);
    let (status, answer) = clinic.post_soap(&app, request.clone()).await;
    assert_eq!(
        crate::agency::fault_code(&app, &request, status, &answer),
        "caller.untrusted_signer"
    );
}
