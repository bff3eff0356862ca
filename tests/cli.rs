//! The command line as integrators use it: the development PKI, and `mconnect sign|verify`
//! interoperating both ways with Debian's `xmlsec1`, the reference XML-DSig implementation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;

const HUB: &str = env!("CARGO_BIN_EXE_esocial-hub");
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs the hub binary with `stdin` as standard input.
fn hub(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(HUB)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hub binary runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Whether xmlsec1 is installed. `scripts/test.sh` installs it and sets
/// ESOCIAL_REQUIRE_XMLSEC1, so there its absence is a failure, not a skip.
fn xmlsec1_available() -> bool {
    let found = Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("ESOCIAL_REQUIRE_XMLSEC1").is_err(),
            "xmlsec1 is required (apt-get install xmlsec1)"
        );
        eprintln!("xmlsec1 not installed: interop test not run (scripts/test.sh runs it)");
    }
    found
}

fn id_attributes() -> Vec<String> {
    let mut attributes = vec![
        "--id-attr:Id".into(),
        format!("{SOAP_NS}:Body"),
        "--id-attr:Id".into(),
        format!("{WSU_NS}:Timestamp"),
    ];
    // Every MConnect header is signed too.
    for header in [
        "CallingUser",
        "CallingEntity",
        "CallBasis",
        "CallReason",
        "MessageId",
    ] {
        attributes.push("--id-attr:Id".into());
        attributes.push(format!("https://mconnect.gov.md:{header}"));
    }
    attributes
}

/// A development PKI made by the CLI itself.
fn pki() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let output = hub(
        &[
            "certs",
            "init",
            "--dir",
            dir.path().to_str().unwrap(),
            "--registry",
            "civil",
            "--client",
            "case-management",
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(listing.contains("created registry-civil.pem"), "{listing}");
    dir
}

/// The certificate carried in the BinarySecurityToken, as PEM (xmlsec1 cannot follow a
/// SecurityTokenReference by itself).
fn token_certificate_pem(signed: &str) -> Vec<u8> {
    let document = roxmltree::Document::parse(signed).unwrap();
    let token = document
        .descendants()
        .find(|n| n.has_tag_name("BinarySecurityToken"))
        .expect("signed envelope has a BinarySecurityToken");
    let text: String = token.text().unwrap().split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    openssl::x509::X509::from_der(&der)
        .unwrap()
        .to_pem()
        .unwrap()
}

fn xmlsec1_verifies(dir: &Path, certificate: &Path, file: &Path) -> bool {
    let output = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(certificate)
        .args(id_attributes())
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap();
    output.status.success()
}

fn utc(moment: time::OffsetDateTime) -> String {
    moment
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap()
}

#[test]
fn envelopes_signed_by_the_hub_verify_with_xmlsec1_and_tampering_fails() {
    if !xmlsec1_available() {
        return;
    }
    // Arrange
    let dir = pki();
    let key = dir.path().join("hub.key");
    let cert = dir.path().join("hub.pem");
    let envelope = std::fs::read(fixture("mconnect-request.xml")).unwrap();

    // Act
    let output = hub(
        &[
            "mconnect",
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
        ],
        &envelope,
    );

    // Assert
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let signed = String::from_utf8(output.stdout).unwrap();
    let signed_path = dir.path().join("signed.xml");
    std::fs::write(&signed_path, &signed).unwrap();
    let token_path = dir.path().join("token.pem");
    std::fs::write(&token_path, token_certificate_pem(&signed)).unwrap();
    assert!(xmlsec1_verifies(dir.path(), &token_path, &signed_path));

    let tampered = signed.replacen("2000000000004</civ:IDNP>", "2000000000012</civ:IDNP>", 1);
    assert_ne!(tampered, signed);
    let tampered_path = dir.path().join("tampered.xml");
    std::fs::write(&tampered_path, &tampered).unwrap();
    assert!(!xmlsec1_verifies(dir.path(), &token_path, &tampered_path));
    // The MConnect headers are signed: xmlsec1 notices a changed legal basis.
    let header_tampered = signed.replacen("art. 12</mc:CallBasis>", "art. 13</mc:CallBasis>", 1);
    assert_ne!(header_tampered, signed);
    let header_path = dir.path().join("header-tampered.xml");
    std::fs::write(&header_path, &header_tampered).unwrap();
    assert!(!xmlsec1_verifies(dir.path(), &token_path, &header_path));

    let trust = dir.path().join("ca.pem");
    let ours = hub(
        &["mconnect", "verify", "--trust", trust.to_str().unwrap()],
        signed.as_bytes(),
    );
    assert!(ours.status.success());
    let ours = hub(
        &["mconnect", "verify", "--trust", trust.to_str().unwrap()],
        tampered.as_bytes(),
    );
    assert!(!ours.status.success());
}

#[test]
fn envelopes_signed_by_xmlsec1_verify_with_the_hub_and_tampering_fails() {
    if !xmlsec1_available() {
        return;
    }
    // Arrange
    let dir = pki();
    let cert_pem = std::fs::read(dir.path().join("registry-civil.pem")).unwrap();
    let cert_der = openssl::x509::X509::from_pem(&cert_pem)
        .unwrap()
        .to_der()
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let template = std::fs::read_to_string(fixture("mconnect-request.template.xml"))
        .unwrap()
        .replace("{CREATED}", &utc(now))
        .replace("{EXPIRES}", &utc(now + time::Duration::minutes(15)))
        .replace(
            "{CERT_B64}",
            &base64::engine::general_purpose::STANDARD.encode(cert_der),
        );
    let template_path = dir.path().join("template.xml");
    std::fs::write(&template_path, template).unwrap();
    let signed_path = dir.path().join("xmlsec1-signed.xml");
    let keys = format!(
        "{},{}",
        dir.path().join("registry-civil.key").display(),
        dir.path().join("registry-civil.pem").display()
    );
    let signing = Command::new("xmlsec1")
        .args(["--sign", "--privkey-pem", &keys])
        .args(id_attributes())
        .arg("--output")
        .arg(&signed_path)
        .arg(&template_path)
        .output()
        .unwrap();
    assert!(
        signing.status.success(),
        "{}",
        String::from_utf8_lossy(&signing.stderr)
    );
    let signed = std::fs::read_to_string(&signed_path).unwrap();
    let trust = dir.path().join("ca.pem");

    // Act
    let verified = hub(
        &["mconnect", "verify", "--trust", trust.to_str().unwrap()],
        signed.as_bytes(),
    );

    // Assert
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains("registry-civil"));
    for tampered in [
        signed.replacen("2000000000004</civ:IDNP>", "2000000000012</civ:IDNP>", 1),
        signed.replacen("<wsu:Expires>2", "<wsu:Expires>3", 1),
        signed.replacen("art. 12</mc:CallBasis>", "art. 13</mc:CallBasis>", 1),
        signed.replacen(
            "000000000001</mc:MessageId>",
            "000000000009</mc:MessageId>",
            1,
        ),
    ] {
        assert_ne!(tampered, signed);
        let rejected = hub(
            &["mconnect", "verify", "--trust", trust.to_str().unwrap()],
            tampered.as_bytes(),
        );
        assert_eq!(rejected.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&rejected.stderr).starts_with("invalid:"));
    }
}

#[test]
fn verify_refuses_a_signer_from_another_ca_and_a_doctype() {
    let ours = pki();
    let theirs = pki();
    let envelope = std::fs::read(fixture("mconnect-request.xml")).unwrap();
    let key = theirs.path().join("hub.key");
    let cert = theirs.path().join("hub.pem");
    let signed = hub(
        &[
            "mconnect",
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
        ],
        &envelope,
    )
    .stdout;
    let trust = ours.path().join("ca.pem");

    let untrusted = hub(
        &["mconnect", "verify", "--trust", trust.to_str().unwrap()],
        &signed,
    );
    let doctype = hub(
        &["mconnect", "verify", "--trust", trust.to_str().unwrap()],
        b"<!DOCTYPE x [<!ENTITY e \"e\">]><x>&e;</x>",
    );

    assert_eq!(untrusted.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("invalid:"));
    assert_eq!(doctype.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&doctype.stderr)
            .to_lowercase()
            .contains("dtd")
    );
}

#[test]
fn sign_names_the_missing_key_file() {
    let output = hub(
        &[
            "mconnect",
            "sign",
            "--key",
            "/nonexistent/hub.key",
            "--cert",
            "/nonexistent/hub.pem",
        ],
        b"<x/>",
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--key"));
}

#[test]
fn certs_revoke_adds_the_holder_to_the_ca_crl() {
    let dir = pki();
    let crl_file = dir.path().join("crl.pem");
    let crl = || openssl::x509::X509Crl::from_pem(&std::fs::read(&crl_file).unwrap()).unwrap();
    assert!(
        crl().get_revoked().is_none(),
        "certs init writes an empty CRL"
    );
    let client = openssl::x509::X509::from_pem(
        &std::fs::read(dir.path().join("client-case-management.pem")).unwrap(),
    )
    .unwrap();
    let revoke = |name: &str| {
        hub(
            &[
                "certs",
                "revoke",
                "--dir",
                dir.path().to_str().unwrap(),
                "--name",
                name,
            ],
            b"",
        )
    };

    let output = revoke("client-case-management");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("Revoked client-case-management"));
    let crl = crl();
    let ca =
        openssl::x509::X509::from_pem(&std::fs::read(dir.path().join("ca.pem")).unwrap()).unwrap();
    assert!(crl.verify(&ca.public_key().unwrap()).unwrap());
    assert!(matches!(
        crl.get_by_serial(client.serial_number()),
        openssl::x509::CrlStatus::Revoked(_)
    ));
    let output = revoke("client-nobody");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--name"));
}

#[test]
fn the_demo_completes_a_signed_exchange_and_exits_zero_with_once() {
    let dir = tempfile::tempdir().unwrap();
    let adapters = Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters");
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts");

    let output = hub(
        &[
            "demo",
            "--once",
            "--dir",
            dir.path().to_str().unwrap(),
            "--adapters",
            adapters.to_str().unwrap(),
            "--contracts",
            contracts.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
        ],
        b"",
    );

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("\"status\": \"completed\""), "{stdout}");
    assert!(
        stdout.contains("\"signedBy\": \"registry-civil\""),
        "{stdout}"
    );
    assert!(stdout.contains("curl --cacert"), "{stdout}");
    assert!(dir.path().join("pki/client-case-management.key").is_file());
    assert!(dir.path().join("hub.db").is_file());
    let logs = String::from_utf8_lossy(&output.stderr);
    let request: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sample-request.json")).unwrap())
            .unwrap();
    assert_eq!(
        request["subject"],
        serde_json::json!({"source": "education", "localId": "SIME-77"})
    );
    assert!(
        stdout.contains("education  SIME-77  ->  person"),
        "{stdout}"
    );
    assert!(stdout.contains("auto-link"), "{stdout}");
    // The subject's IDNP, as the registry's answer shows it, never reaches the logs.
    let idnp_at = stdout
        .find("\"idnp\": \"")
        .expect("the answer names the IDNP")
        + 9;
    let idnp = &stdout[idnp_at..idnp_at + 13];
    assert!(idnp.bytes().all(|b| b.is_ascii_digit()), "{idnp}");
    assert!(
        !logs.contains(idnp),
        "the subject's IDNP must not reach the logs"
    );
}

#[test]
fn serve_names_the_bad_setting_and_exits_non_zero() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/hub.example.toml");
    let output = Command::new(HUB)
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("HUB__SERVER__LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("`server.listen`"));

    let output = Command::new(HUB)
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("HUB__TLS__CERT", "/nonexistent/hub.pem")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("`tls.cert`"));

    let output = Command::new(HUB)
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("HUB__SERVER__BODY_READ_TIMEOUT_MS", "5")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("`server.body_read_timeout_ms`"));
}

#[test]
fn contract_validate_lists_violations_with_pointers_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"idnp": "123", "status": "sometimes"}"#).unwrap();
    let args = |file: &Path| {
        vec![
            "contract".to_string(),
            "validate".into(),
            "justice.probation".into(),
            "response".into(),
            file.display().to_string(),
            "--adapters".into(),
            root.join("adapters").display().to_string(),
            "--contracts".into(),
            root.join("contracts").display().to_string(),
        ]
    };

    let output = Command::new(HUB).args(args(&bad)).output().unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("/idnp:"), "{stdout}");
    assert!(stdout.contains("/status:"), "{stdout}");
    assert!(stdout.contains("invalid: 2 violation(s)"), "{stdout}");

    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"idnp": "2000000000004", "status": "none"}"#).unwrap();
    let output = Command::new(HUB).args(args(&good)).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
