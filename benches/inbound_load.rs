//! A load of mixed valid and invalid MConnect requests from the three demo agencies, over SOAP
//! and REST and the three provider services: every invalid one must be refused with its stable
//! code, every valid one answered, every answer and refusal signed and bound to its request,
//! nothing outside an agency's grant released, and every request recorded exactly once.
//!
//! `cargo bench --bench inbound_load` (or `scripts/bench-inbound.sh`). One process: a hub, the
//! registry simulators and the development PKI are built in-process (as the API tests'
//! `spawn_app` does), subjects are registered in the master index, then the requests, all
//! signed before the clock starts, are sent by concurrent tasks in a deterministic shuffled
//! order. The answers are checked once the load is over, then the exchange log. The Markdown
//! report gives counts, mismatches, throughput and latency; the bench exits non-zero when
//! anything did not go as expected.
//!
//! Each invalid request has exactly one defect on an otherwise valid request for a service its
//! agency is granted (the "no grant" kind apart), so that its expected code does not depend on
//! the order of the hub's checks.
//!
//! Environment:
//! - `BENCH_N` (1000): requests; `BENCH_CONCURRENCY` (16): concurrent sending tasks;
//! - `BENCH_SEED` (20261201): the mix and its order;
//! - `BENCH_SUBJECTS` (40): persons of the synthetic population registered in the master index
//!   (besides the case-management fixtures' subjects);
//! - `BENCH_STORE_DIR` (the system's temporary directory): where the hub's SQLite file (and the
//!   development PKI) live, e.g. `/dev/shm` to tell the store's synchronous commits apart;
//! - `BENCH_REPORT` (`reports/inbound-load.md`): where the Markdown report is written.

#[path = "common/machine.rs"]
#[allow(dead_code)]
mod machine;

use machine::{
    adapters_dir, clock_ticks, contracts_dir, filesystem_of, logical_cpus, machine_section,
    percentile, rustc_version,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use esocial_catalog::Catalog;
use esocial_catalog::released_fields;
use esocial_hub::config::{AgencyGrantSettings, RegistryOverride};
use esocial_hub::demo::{
    DEMO_AGENCIES, DEMO_CLIENT, demo_agency_grants, demo_certificate_holders, demo_grants,
    embedded_settings,
};
use esocial_hub::provider::InboundService;
use esocial_hub::startup::Application;
use esocial_sim::population::Population;
use esocial_sim::{Behaviour, SimulatorConfig};
use esocial_store::{ExchangeRecord, ExchangeStatus, Store};
use esocial_wire::crypto::jws::{self, JwsSigner, JwsVerifier};
use esocial_wire::crypto::pki::{PkiLayout, client_holder, init_dev_pki};
use esocial_wire::crypto::wssec::{self, SigningIdentity, TrustAnchors};
use esocial_wire::mconnect::envelope::{self, CallContext, Envelope};
use esocial_wire::mconnect::{request_hash, xml};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The payload namespace of eSocial's MConnect services.
const ES_NS: &str = esocial_hub::provider::render::ES_NS;
/// Subjects of the case-management fixtures the simulator answers from its fixture files:
/// a child with child-protection and domestic-violence cases, a mother receiving social aid,
/// a person with a disability case, one with no case and no benefit, one with four benefits,
/// and one the module does not know. (The fixtures that make the module fail, maintenance and
/// an invalid request, are left out: those are registry faults, not refusals.)
const FIXTURE_SUBJECTS: &[&str] = &[
    "2999045120339",
    "2999045120111",
    "2999045120557",
    "2999045120225",
    "0993045120779",
    "2999099999901",
];
/// Bytes added to an oversized request: past the hub's 64 KiB `server.max_body_bytes`.
const OVERSIZE_PADDING: usize = 70 * 1024;
/// An operation eSocial does not provide (SOAP), and its would-be REST path.
const UNKNOWN_OPERATION: &str = "GetCaseNotes";
const UNKNOWN_REST_PATH: &str = "case-notes";
const DTD_PREFIX: &str = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]>";
const WRAPPER_NS: &str = "urn:example:wrapper";

// ---------------------------------------------------------------------------------------------
// What is sent and what is expected.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Transport {
    Soap,
    Rest,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Soap => "SOAP",
            Transport::Rest => "REST",
        }
    }
}

/// A request's one defect, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Valid,
    Unsigned,
    Tampered,
    Expired,
    FromFuture,
    Replayed,
    SignerMismatch,
    BasisMissing,
    BasisBlank,
    BasisDashes,
    ReasonMissing,
    ReasonBlank,
    ReasonDashes,
    EntityMismatch,
    BadSubjectIdnp,
    UnknownOperation,
    NoGrant,
    Dtd,
    Oversized,
    WrappedBody,
}

impl Kind {
    const ALL: [Kind; 20] = [
        Kind::Valid,
        Kind::Unsigned,
        Kind::Tampered,
        Kind::Expired,
        Kind::FromFuture,
        Kind::Replayed,
        Kind::SignerMismatch,
        Kind::BasisMissing,
        Kind::BasisBlank,
        Kind::BasisDashes,
        Kind::ReasonMissing,
        Kind::ReasonBlank,
        Kind::ReasonDashes,
        Kind::EntityMismatch,
        Kind::BadSubjectIdnp,
        Kind::UnknownOperation,
        Kind::NoGrant,
        Kind::Dtd,
        Kind::Oversized,
        Kind::WrappedBody,
    ];

    /// The invalid kinds a transport can carry (a DTD and a wrapped Body are XML matters).
    fn invalid(transport: Transport) -> Vec<Kind> {
        Self::ALL
            .into_iter()
            .filter(|k| *k != Kind::Valid)
            .filter(|k| transport == Transport::Soap || !k.soap_only())
            .collect()
    }

    fn soap_only(self) -> bool {
        matches!(self, Kind::Dtd | Kind::WrappedBody)
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Valid => "valid",
            Kind::Unsigned => "unsigned",
            Kind::Tampered => "tampered",
            Kind::Expired => "expired",
            Kind::FromFuture => "from-future",
            Kind::Replayed => "replayed",
            Kind::SignerMismatch => "signer-mismatch",
            Kind::BasisMissing => "basis-missing",
            Kind::BasisBlank => "basis-blank",
            Kind::BasisDashes => "basis-dashes",
            Kind::ReasonMissing => "reason-missing",
            Kind::ReasonBlank => "reason-blank",
            Kind::ReasonDashes => "reason-dashes",
            Kind::EntityMismatch => "entity-mismatch",
            Kind::BadSubjectIdnp => "bad-subject-idnp",
            Kind::UnknownOperation => "unknown-operation",
            Kind::NoGrant => "no-grant",
            Kind::Dtd => "dtd",
            Kind::Oversized => "oversized",
            Kind::WrappedBody => "wrapped-body",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Kind::Valid => "signed by the TLS client, fresh, purpose stated, granted service",
            Kind::Unsigned => "no signature (SOAP: no wsse:Security; REST: the bare JSON)",
            Kind::Tampered => "subject changed after signing",
            Kind::Expired => "signed 60 min ago (signature valid 15 min)",
            Kind::FromFuture => "signed 30 min ahead of the clock",
            Kind::Replayed => "the exact bytes of an answered request, sent again after its answer",
            Kind::SignerMismatch => "signed with another demo agency's key than the TLS client's",
            Kind::BasisMissing => "no CallBasis",
            Kind::BasisBlank => "CallBasis of spaces",
            Kind::BasisDashes => "CallBasis `---`",
            Kind::ReasonMissing => "no CallReason",
            Kind::ReasonBlank => "CallReason of spaces",
            Kind::ReasonDashes => "CallReason `---`",
            Kind::EntityMismatch => "CallingEntity is another agency's IDNO",
            Kind::BadSubjectIdnp => "subject IDNP with a wrong check digit",
            Kind::UnknownOperation => "an operation eSocial does not provide",
            Kind::NoGrant => "a service the agency has no grant for",
            Kind::Dtd => "a DOCTYPE before the signed envelope",
            Kind::Oversized => "70 KiB of padding outside what is signed (limit 64 KiB)",
            Kind::WrappedBody => "signed Body moved into a wrapper, a forged Body in its place",
        }
    }

    /// The stable code of the refusal; `None` for an answer.
    fn expected_code(self) -> Option<&'static str> {
        Some(match self {
            Kind::Valid => return None,
            Kind::Unsigned => "caller.unsigned_message",
            Kind::Tampered => "caller.invalid_signature",
            Kind::Expired => "caller.expired_message",
            Kind::FromFuture => "caller.message_from_future",
            Kind::Replayed => "caller.replayed_message",
            Kind::SignerMismatch => "caller.signer_mismatch",
            Kind::BasisMissing | Kind::BasisBlank | Kind::BasisDashes => {
                "caller.missing_legal_basis"
            }
            Kind::ReasonMissing | Kind::ReasonBlank | Kind::ReasonDashes => "caller.missing_reason",
            Kind::EntityMismatch => "caller.entity_mismatch",
            Kind::BadSubjectIdnp => "caller.invalid_idnp",
            Kind::UnknownOperation => "caller.unknown_service",
            Kind::NoGrant => "caller.access_denied",
            Kind::Dtd => "caller.malformed_message",
            Kind::Oversized => "caller.message_too_large",
            Kind::WrappedBody => "caller.incomplete_signature",
        })
    }
}

/// The HTTP status a REST refusal with `code` carries (the problem+json contract).
fn rest_status(code: &str) -> u16 {
    match code {
        "caller.unsigned_message"
        | "caller.invalid_signature"
        | "caller.incomplete_signature"
        | "caller.expired_message"
        | "caller.message_from_future" => 401,
        "caller.signer_mismatch" | "caller.entity_mismatch" | "caller.access_denied" => 403,
        "caller.unknown_service" => 404,
        "caller.replayed_message" => 409,
        "caller.malformed_message" => 400,
        "caller.message_too_large" => 413,
        "caller.missing_legal_basis" | "caller.missing_reason" | "caller.invalid_idnp" => 422,
        _ => 0,
    }
}

/// One request, signed and ready to send, with everything needed to check its answer.
struct Request {
    kind: Kind,
    transport: Transport,
    /// Index into `DEMO_AGENCIES` of the TLS client.
    agency: usize,
    service: InboundService,
    path: String,
    content_type: &'static str,
    soap_action: Option<String>,
    body: Vec<u8>,
    message_id: String,
    /// The subject the request asks about (checked in the answer; never reported).
    subject: String,
    /// Every other IDNP the request carries (the calling user, a corrupted or forged
    /// subject): none may come back in an answer, nor any IDNP at all in a refusal.
    other_idnps: Vec<String>,
    /// SHA-256 (hex) of what the hub reads: the exchange log's `request_digest`.
    digest: String,
    /// `RequestHash` / `requestHash` the answer must carry.
    hash: String,
}

impl Request {
    fn expected_label(&self) -> String {
        match self.kind.expected_code() {
            None => "200 answered".into(),
            Some(code) => code.into(),
        }
    }
}

/// What the load sends as one unit: a request, or a request and then its replay.
#[derive(Clone, Copy)]
enum Item {
    One(usize),
    Pair(usize, usize),
}

/// A request as the plan describes it, before its bytes are built.
#[derive(Clone)]
struct Spec {
    kind: Kind,
    transport: Transport,
    agency: usize,
    service: InboundService,
    subject: String,
    /// Another registered subject, for the tampered and wrapped kinds.
    other_subject: String,
    calling_user: String,
    serial: usize,
}

/// SplitMix64: a small deterministic generator for the mix and its order.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[derive(Clone, Debug)]
struct Knobs {
    n: usize,
    concurrency: usize,
    seed: u64,
    subjects: usize,
    store_dir: Option<PathBuf>,
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not `{text}`")),
        Err(_) => default,
    }
}

impl Knobs {
    fn from_env() -> Self {
        Self {
            n: (env_number("BENCH_N", 1000) as usize).max(2),
            concurrency: (env_number("BENCH_CONCURRENCY", 16) as usize).max(1),
            seed: env_number("BENCH_SEED", 20_261_201),
            subjects: (env_number("BENCH_SUBJECTS", 40) as usize).max(1),
            store_dir: std::env::var_os("BENCH_STORE_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        }
    }
}

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`; load only under
    // `cargo bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("inbound_load: a benchmark; run it with `scripts/bench-inbound.sh`");
        return;
    }
    let knobs = Knobs::from_env();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(&knobs)) {
        Ok(mismatches) => {
            if mismatches > 0 {
                eprintln!("inbound_load: {mismatches} mismatches (see the report)");
                std::process::exit(1);
            }
            // The hub and the simulators run on threads of their own; do not wait for them.
            std::process::exit(0);
        }
        Err(error) => {
            eprintln!("inbound_load: {error}");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The hub, the simulators and the agencies.

/// An agency's TLS client and signing keys.
struct AgencyClient {
    name: &'static str,
    idno: &'static str,
    http: reqwest::Client,
    identity: SigningIdentity,
    jws: JwsSigner,
}

struct World {
    address: String,
    store: Store,
    population: Arc<Population>,
    /// The case-management module, as a client of the hub (registers subjects).
    module: reqwest::Client,
    agencies: Vec<AgencyClient>,
    trust: TrustAnchors,
    verifier: JwsVerifier,
    grants: Vec<AgencyGrantSettings>,
    _dir: tempfile::TempDir,
}

fn tls_client(pki: &PkiLayout, holder: &str, pool: usize) -> Result<reqwest::Client, BoxError> {
    Ok(esocial_hub::demo::https_client_builder(pki, holder)?
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(60))
        .build()?)
}

async fn start_world(knobs: &Knobs) -> Result<World, BoxError> {
    esocial_hub::telemetry::init("warn", false);
    let dir = match &knobs.store_dir {
        Some(parent) => tempfile::tempdir_in(parent)?,
        None => tempfile::tempdir()?,
    };
    let pki = PkiLayout::new(dir.path().join("pki"));
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir())?;
    let registries: Vec<String> = catalog.registries().map(|r| r.name.clone()).collect();
    init_dev_pki(&pki, &registries, &demo_certificate_holders())?;
    let population = Arc::new(Population::default_population());
    let mut settings = embedded_settings(
        &pki,
        &dir.path().join("hub.db"),
        &adapters_dir(),
        &contracts_dir(),
        demo_grants(&catalog),
        SecretString::from("bench-digest-key-0123456789abcdef0123456789"),
        "127.0.0.1:0".parse()?,
        "127.0.0.1:0".parse()?,
    );
    // Every registry gets its simulator, as in the API tests; only case management is called.
    for registry in catalog.registries() {
        let simulator = esocial_sim::start(
            &catalog,
            &registry.name,
            SimulatorConfig::from_dev_pki(
                &pki,
                &registry.name,
                "127.0.0.1:0".parse()?,
                population.clone(),
                Behaviour::default(),
            )?,
        )?;
        tokio::spawn(simulator.server);
        let path = reqwest::Url::parse(&registry.endpoint)?.path().to_string();
        settings.registries.insert(
            registry.name.clone(),
            RegistryOverride {
                endpoint: Some(format!("https://127.0.0.1:{}{path}", simulator.port)),
                ..RegistryOverride::default()
            },
        );
    }
    let application = Application::build(settings).await?;
    let address = format!("https://127.0.0.1:{}", application.api_port());
    let store = application.store().clone();
    tokio::spawn(application.run_until_stopped());

    let mut agencies = Vec::new();
    for (name, idno, _) in DEMO_AGENCIES {
        let holder = client_holder(name);
        let key = std::fs::read(pki.key(&holder))?;
        let cert = std::fs::read(pki.cert(&holder))?;
        agencies.push(AgencyClient {
            name,
            idno,
            http: tls_client(&pki, &holder, knobs.concurrency)?,
            identity: SigningIdentity::from_pem(&key, &cert)?,
            jws: JwsSigner::from_pem(&key, &cert)?,
        });
    }
    let ca = std::fs::read(pki.ca_cert())?;
    Ok(World {
        address,
        store,
        population,
        module: tls_client(&pki, &client_holder(DEMO_CLIENT), 4)?,
        agencies,
        trust: TrustAnchors::from_pem(&ca)?,
        verifier: JwsVerifier::from_pem(&ca)?,
        grants: demo_agency_grants(),
        _dir: dir,
    })
}

impl World {
    fn grant(&self, agency: usize, service: InboundService) -> Option<&AgencyGrantSettings> {
        let name = self.agencies[agency].name;
        self.grants
            .iter()
            .find(|g| g.agency == name && g.service == service.name())
    }
}

/// The subjects: registered in the master index (fixtures first, then living persons of the
/// population), and living persons left out of it (eSocial has no case for them).
struct Subjects {
    registered: Vec<String>,
    unregistered: Vec<String>,
    calling_users: Vec<String>,
    /// Registrations answered 201 (new record), by matching outcome.
    outcomes: BTreeMap<String, usize>,
    /// Registered population persons by what case management holds about them.
    profiles: [usize; 3],
}

/// What the case-management simulator holds about a person: 0 = a child-protection or
/// domestic-violence case (what the police and the school may learn of), 1 = else a benefit
/// (what the clinic may learn of), 2 = neither.
fn case_profile(population: &Population, idnp: &str) -> usize {
    use esocial_sim::generators::{WireAnswer, generate};
    let rest = |service: &str| match generate(service, population, idnp) {
        Some(WireAnswer::Rest(value)) => value,
        _ => Value::Null,
    };
    let cases = rest("cases.active-cases");
    let learnable = cases["cases"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|case| case["type"].as_str())
        .any(|t| t == "child_protection" || t == "domestic_violence");
    if learnable {
        return 0;
    }
    let benefits = rest("cases.beneficiary-status")["status"]["benefits"]
        .as_array()
        .map_or(0, Vec::len);
    if benefits > 0 { 1 } else { 2 }
}

/// Names for the fixture subjects, which are not in the synthetic population.
const FIXTURE_NAMES: &[(&str, &str, &str, &str)] = &[
    ("Ana", "Ceban", "2014-05-03", "F"),
    ("Maria", "Ceban", "1988-09-14", "F"),
    ("Ion", "Rusu", "1975-02-21", "M"),
    ("Elena", "Moraru", "1969-11-30", "F"),
    ("Vasile", "Lungu", "1952-07-08", "M"),
    ("Nicolae", "Sârbu", "1991-03-17", "M"),
];

async fn register_subjects(world: &World, knobs: &Knobs) -> Result<Subjects, BoxError> {
    let living: Vec<_> = world
        .population
        .persons()
        .iter()
        .filter(|p| !p.deceased)
        .collect();
    let wanted = knobs.subjects.min(living.len().saturating_sub(20));
    // Most people have no case and no benefit: take in turn a person with a case the police
    // or the school may learn of, one with a benefit, and one with neither, so that the grant
    // checks see rich answers. The rest of the living keep their order.
    let mut groups: [Vec<usize>; 3] = Default::default();
    for (i, person) in living.iter().enumerate() {
        groups[case_profile(&world.population, person.idnp.expose())].push(i);
    }
    let mut chosen: Vec<usize> = Vec::with_capacity(wanted);
    let mut profiles = [0usize; 3];
    let mut turn = 0;
    while chosen.len() < wanted {
        let group = turn % 3;
        turn += 1;
        if let Some(i) = groups[group].get(profiles[group]).copied() {
            chosen.push(i);
            profiles[group] += 1;
        } else if groups
            .iter()
            .zip(&profiles)
            .all(|(g, taken)| g.len() <= *taken)
        {
            break;
        }
    }
    let others: Vec<usize> = (0..living.len()).filter(|i| !chosen.contains(i)).collect();
    let mut records: Vec<(String, Value)> = FIXTURE_SUBJECTS
        .iter()
        .zip(FIXTURE_NAMES)
        .map(|(idnp, (first, last, birth, sex))| {
            (
                idnp.to_string(),
                json!({"idnp": idnp, "firstName": first, "lastName": last,
                       "birthDate": birth, "sex": sex}),
            )
        })
        .collect();
    for person in chosen.iter().map(|&i| living[i]) {
        records.push((
            person.idnp.expose().to_string(),
            json!({"idnp": person.idnp.expose(), "firstName": person.first_name,
                   "lastName": person.last_name, "birthDate": person.birth_date_text(),
                   "sex": person.sex.code()}),
        ));
    }
    let mut outcomes = BTreeMap::new();
    let mut registered = Vec::new();
    for (i, (idnp, mut record)) in records.into_iter().enumerate() {
        record["localId"] = json!(format!("LOAD-{i:05}"));
        let response = world
            .module
            .post(format!("{}/api/v1/persons/records", world.address))
            .json(&json!({"source": "social", "record": record}))
            .send()
            .await?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or_default();
        if status != 201 {
            return Err(format!("registering subject {i} answered {status}").into());
        }
        let outcome = answer["outcome"].as_str().unwrap_or("unknown").to_string();
        *outcomes.entry(outcome).or_default() += 1;
        registered.push(idnp);
    }
    let idnp_of = |i: &usize| living[*i].idnp.expose().to_string();
    Ok(Subjects {
        registered,
        unregistered: others[..10].iter().map(idnp_of).collect(),
        calling_users: others[10..20].iter().map(idnp_of).collect(),
        outcomes,
        profiles,
    })
}

// ---------------------------------------------------------------------------------------------
// The plan: which requests, in which order.

fn plan(world: &World, subjects: &Subjects, knobs: &Knobs) -> (Vec<Spec>, Vec<Item>) {
    let mut rng = Rng(knobs.seed);
    let mut granted = Vec::new();
    let mut ungranted = Vec::new();
    for agency in 0..world.agencies.len() {
        for service in InboundService::ALL {
            if world.grant(agency, service).is_some() {
                granted.push((agency, service));
            } else {
                ungranted.push((agency, service));
            }
        }
    }
    let mut specs: Vec<Spec> = Vec::with_capacity(knobs.n);
    let mut items = Vec::new();
    // Invalid requests and replayed originals ask about persons in eSocial's care; other valid
    // requests, one in five, about someone the master index does not know.
    let spec = |rng: &mut Rng, kind, transport, (agency, service), serial, registered_only| {
        let pool = if registered_only || rng.below(5) != 0 {
            &subjects.registered
        } else {
            &subjects.unregistered
        };
        let subject = pool[rng.below(pool.len())].clone();
        let mut other_subject = subject.clone();
        while other_subject == subject && subjects.registered.len() > 1 {
            other_subject = subjects.registered[rng.below(subjects.registered.len())].clone();
        }
        Spec {
            kind,
            transport,
            agency,
            service,
            subject,
            other_subject,
            calling_user: subjects.calling_users[rng.below(subjects.calling_users.len())].clone(),
            serial,
        }
    };
    // Half the load is invalid: the transports alternate, each cycles through its invalid
    // kinds, and each kind through the (agency, service) pairs it applies to.
    let invalid_target = knobs.n / 2;
    let mut cursors: BTreeMap<Transport, usize> = BTreeMap::new();
    let mut pair_cursors: BTreeMap<(Kind, Transport), usize> = BTreeMap::new();
    let mut invalid = 0;
    let mut turn = 0usize;
    while invalid < invalid_target && specs.len() < knobs.n {
        let transport = if turn.is_multiple_of(2) {
            Transport::Soap
        } else {
            Transport::Rest
        };
        turn += 1;
        let kinds = Kind::invalid(transport);
        let cursor = cursors.entry(transport).or_default();
        let kind = kinds[*cursor % kinds.len()];
        *cursor += 1;
        if kind == Kind::Replayed && specs.len() + 2 > knobs.n {
            continue;
        }
        // Each kind starts at another pair, so that a small load still spreads over them.
        let counter = pair_cursors
            .entry((kind, transport))
            .or_insert(kind as usize + transport as usize);
        let pairs = if kind == Kind::NoGrant {
            &ungranted
        } else {
            &granted
        };
        let pair = pairs[*counter % pairs.len()];
        *counter += 1;
        let serial = specs.len();
        if kind == Kind::Replayed {
            let original = spec(&mut rng, Kind::Valid, transport, pair, serial, true);
            let copy = Spec {
                kind,
                serial: serial + 1,
                ..original.clone()
            };
            items.push(Item::Pair(serial, serial + 1));
            specs.push(original);
            specs.push(copy);
        } else {
            items.push(Item::One(serial));
            specs.push(spec(&mut rng, kind, transport, pair, serial, true));
        }
        invalid += 1;
    }
    // The rest is valid, evenly over both transports and every granted (agency, service).
    let mut valid = 0usize;
    while specs.len() < knobs.n {
        let transport = if valid.is_multiple_of(2) {
            Transport::Soap
        } else {
            Transport::Rest
        };
        let pair = granted[(valid / 2) % granted.len()];
        valid += 1;
        let serial = specs.len();
        items.push(Item::One(serial));
        specs.push(spec(&mut rng, Kind::Valid, transport, pair, serial, false));
    }
    rng.shuffle(&mut items);
    (specs, items)
}

// ---------------------------------------------------------------------------------------------
// Building the bytes.

/// The same IDNP with its check digit off by one.
fn corrupt_check_digit(idnp: &str) -> String {
    let mut digits: Vec<u8> = idnp.bytes().collect();
    let last = digits.last_mut().expect("13 digits");
    *last = b'0' + (*last - b'0' + 1) % 10;
    String::from_utf8(digits).expect("digits")
}

/// The canonical request of a service about `idnp` (an event for `NotifyCaseRelevantEvent`).
fn canonical_request(service: InboundService, agency: &str, idnp: &str, serial: usize) -> Value {
    match service {
        InboundService::NotifyCaseRelevantEvent => {
            let occurred = OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .expect("zero nanoseconds")
                - time::Duration::hours(1 + (serial % 48) as i64);
            let (event_type, summary) = if agency == "agency-police" {
                (
                    "police.domestic-violence-callout",
                    "Apel 112: intervenție la domiciliu, copilul a fost martor",
                )
            } else {
                (
                    "health.emergency-visit",
                    "Prezentare la urgențe cu semne de neglijare",
                )
            };
            let severity = ["low", "medium", "high"][serial % 3];
            json!({
                "idnp": idnp,
                "eventType": event_type,
                "occurredAt": occurred.format(&Rfc3339).expect("RFC 3339"),
                "severity": severity,
                "summary": summary,
                "reference": format!("REF-{serial:06}"),
            })
        }
        _ => json!({"idnp": idnp}),
    }
}

/// SOAP payload fields of a canonical request (flat: `idnp` is `IDNP`, `eventType` is
/// `EventType`).
fn soap_fields(request: &Value) -> String {
    let mut out = String::new();
    for (key, value) in request.as_object().into_iter().flatten() {
        let name = if key == "idnp" {
            "IDNP".to_string()
        } else {
            let mut chars = key.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        };
        let text = value.as_str().unwrap_or_default();
        out.push_str(&format!("<es:{name}>{}</es:{name}>", xml::escape(text)));
    }
    out
}

fn payload_element(operation: &str, request: &Value) -> String {
    format!(
        r#"<es:{operation}Request xmlns:es="{ES_NS}">{}</es:{operation}Request>"#,
        soap_fields(request)
    )
}

/// The MConnect headers of a request, with the kind's defect (`None` = header left out).
struct Headers {
    calling_user: String,
    calling_entity: String,
    call_basis: Option<String>,
    call_reason: Option<String>,
    message_id: String,
}

const BASIS: &str = "Legea nr. 140/2013 privind protecția specială a copiilor, art. 5";
const REASON: &str = "Verificarea situației copilului după sesizare";

fn headers_of(spec: &Spec, world: &World, message_id: &str) -> Headers {
    let own = world.agencies[spec.agency].idno;
    let other = world.agencies[(spec.agency + 1) % world.agencies.len()].idno;
    let (basis, reason) = match spec.kind {
        Kind::BasisMissing => (None, Some(REASON)),
        Kind::BasisBlank => (Some("   "), Some(REASON)),
        Kind::BasisDashes => (Some("---"), Some(REASON)),
        Kind::ReasonMissing => (Some(BASIS), None),
        Kind::ReasonBlank => (Some(BASIS), Some("   ")),
        Kind::ReasonDashes => (Some(BASIS), Some("---")),
        _ => (Some(BASIS), Some(REASON)),
    };
    Headers {
        calling_user: spec.calling_user.clone(),
        calling_entity: if spec.kind == Kind::EntityMismatch {
            other
        } else {
            own
        }
        .to_string(),
        call_basis: basis.map(str::to_string),
        call_reason: reason.map(str::to_string),
        message_id: message_id.to_string(),
    }
}

fn signing_time(kind: Kind, now: SystemTime) -> SystemTime {
    match kind {
        Kind::Expired => now - Duration::from_secs(60 * 60),
        Kind::FromFuture => now + Duration::from_secs(30 * 60),
        _ => now,
    }
}

/// Who signs: the TLS client, or for the signer-mismatch kind the next demo agency.
fn signer_of<'w>(spec: &Spec, world: &'w World) -> &'w AgencyClient {
    let index = if spec.kind == Kind::SignerMismatch {
        (spec.agency + 1) % world.agencies.len()
    } else {
        spec.agency
    };
    &world.agencies[index]
}

fn build(spec: &Spec, world: &World, now: SystemTime) -> Result<Request, BoxError> {
    let agency = &world.agencies[spec.agency];
    let message_id = uuid::Uuid::new_v4().to_string();
    let headers = headers_of(spec, world, &message_id);
    let wire_subject = if spec.kind == Kind::BadSubjectIdnp {
        corrupt_check_digit(&spec.subject)
    } else {
        spec.subject.clone()
    };
    let request = canonical_request(spec.service, agency.name, &wire_subject, spec.serial);
    let signer = signer_of(spec, world);
    let at = signing_time(spec.kind, now);
    let (path, content_type, soap_action, body) = match spec.transport {
        Transport::Soap => {
            let operation = if spec.kind == Kind::UnknownOperation {
                UNKNOWN_OPERATION
            } else {
                spec.service.name()
            };
            let body = soap_body(spec, &headers, operation, &request, signer, at)?;
            (
                "/mconnect/v1/soap".to_string(),
                "text/xml; charset=utf-8",
                Some(format!("\"{ES_NS}/{operation}\"")),
                body,
            )
        }
        Transport::Rest => {
            let path = if spec.kind == Kind::UnknownOperation {
                UNKNOWN_REST_PATH
            } else {
                spec.service.rest_path()
            };
            let body = rest_body(spec, &headers, &request, signer, at)?;
            let content_type = if spec.kind == Kind::Unsigned {
                "application/json"
            } else {
                "application/jose"
            };
            (format!("/mconnect/v1/{path}"), content_type, None, body)
        }
    };
    let forged =
        matches!(spec.kind, Kind::Tampered | Kind::WrappedBody).then(|| spec.other_subject.clone());
    // The hub reads nothing of an oversized body: its record and answer hash the empty body.
    let read: &[u8] = if spec.kind == Kind::Oversized {
        b""
    } else {
        body.as_bytes()
    };
    Ok(Request {
        kind: spec.kind,
        transport: spec.transport,
        agency: spec.agency,
        service: spec.service,
        path,
        content_type,
        soap_action,
        digest: esocial_wire::mconnect::message_digest(read),
        hash: request_hash(read),
        body: body.into_bytes(),
        message_id,
        subject: spec.subject.clone(),
        other_idnps: forged
            .into_iter()
            .chain([wire_subject, spec.calling_user.clone()])
            .filter(|idnp| *idnp != spec.subject)
            .collect(),
    })
}

/// The exact bytes of `original`, sent again.
fn replay_of(original: &Request) -> Request {
    Request {
        kind: Kind::Replayed,
        transport: original.transport,
        agency: original.agency,
        service: original.service,
        path: original.path.clone(),
        content_type: original.content_type,
        soap_action: original.soap_action.clone(),
        body: original.body.clone(),
        message_id: original.message_id.clone(),
        subject: original.subject.clone(),
        other_idnps: original.other_idnps.clone(),
        digest: original.digest.clone(),
        hash: original.hash.clone(),
    }
}

fn soap_body(
    spec: &Spec,
    headers: &Headers,
    operation: &str,
    request: &Value,
    signer: &AgencyClient,
    at: SystemTime,
) -> Result<String, BoxError> {
    let context = CallContext {
        calling_user: headers.calling_user.clone(),
        calling_entity: headers.calling_entity.clone(),
        call_basis: headers.call_basis.clone().unwrap_or_default(),
        call_reason: headers.call_reason.clone().unwrap_or_default(),
        message_id: headers.message_id.clone(),
        delivery: None,
    };
    let mut unsigned = envelope::request(&context, &payload_element(operation, request));
    if headers.call_basis.is_none() {
        unsigned = without(&unsigned, "<mc:CallBasis></mc:CallBasis>")?;
    }
    if headers.call_reason.is_none() {
        unsigned = without(&unsigned, "<mc:CallReason></mc:CallReason>")?;
    }
    if spec.kind == Kind::Unsigned {
        return Ok(unsigned);
    }
    let signed = wssec::sign_envelope(&unsigned, &signer.identity, at, wssec::DEFAULT_TTL)?;
    Ok(match spec.kind {
        Kind::Tampered => {
            let asked = format!("<es:IDNP>{}</es:IDNP>", spec.subject);
            let forged = format!("<es:IDNP>{}</es:IDNP>", spec.other_subject);
            if !signed.contains(&asked) || spec.subject == spec.other_subject {
                return Err("cannot tamper with the subject".into());
            }
            signed.replacen(&asked, &forged, 1)
        }
        Kind::Dtd => format!("{DTD_PREFIX}{signed}"),
        Kind::Oversized => {
            let at = signed.find("<soap:Body").ok_or("no soap:Body")?;
            let mut padded = signed.clone();
            padded.insert_str(at, &" ".repeat(OVERSIZE_PADDING));
            padded
        }
        Kind::WrappedBody => wrap_body(&signed, spec, operation, request)?,
        _ => signed,
    })
}

fn without(text: &str, part: &str) -> Result<String, BoxError> {
    if !text.contains(part) {
        return Err(format!("`{part}` not found").into());
    }
    Ok(text.replacen(part, "", 1))
}

/// XML signature wrapping: the signed Body moves into a wrapper (a new header, or inside a new
/// Body, alternately) and a forged Body asking about another subject takes its place.
fn wrap_body(
    signed: &str,
    spec: &Spec,
    operation: &str,
    request: &Value,
) -> Result<String, BoxError> {
    let start = signed.find("<soap:Body").ok_or("no soap:Body")?;
    let end = signed.find("</soap:Body>").ok_or("no </soap:Body>")? + "</soap:Body>".len();
    let signed_body = &signed[start..end];
    let mut forged_request = request.clone();
    forged_request["idnp"] = json!(spec.other_subject);
    let forged = payload_element(operation, &forged_request);
    let wrapper = format!(r#"<w:Wrapper xmlns:w="{WRAPPER_NS}">{signed_body}</w:Wrapper>"#);
    let mut out = String::with_capacity(signed.len() * 2);
    if spec.serial.is_multiple_of(2) {
        let header = signed.find("<soap:Header").ok_or("no soap:Header")?;
        let header_end = header + signed[header..].find('>').ok_or("unclosed soap:Header")? + 1;
        out.push_str(&signed[..header_end]);
        out.push_str(&wrapper);
        out.push_str(&signed[header_end..start]);
        out.push_str(&format!("<soap:Body>{forged}</soap:Body>"));
    } else {
        out.push_str(&signed[..start]);
        out.push_str(&format!("<soap:Body>{forged}{wrapper}</soap:Body>"));
    }
    out.push_str(&signed[end..]);
    Ok(out)
}

fn rest_body(
    spec: &Spec,
    headers: &Headers,
    request: &Value,
    signer: &AgencyClient,
    at: SystemTime,
) -> Result<String, BoxError> {
    let mut mconnect = Map::new();
    mconnect.insert("callingUser".into(), json!(headers.calling_user));
    mconnect.insert("callingEntity".into(), json!(headers.calling_entity));
    if let Some(basis) = &headers.call_basis {
        mconnect.insert("callBasis".into(), json!(basis));
    }
    if let Some(reason) = &headers.call_reason {
        mconnect.insert("callReason".into(), json!(reason));
    }
    mconnect.insert("messageId".into(), json!(headers.message_id));
    let payload = json!({"mconnect": mconnect, "request": request}).to_string();
    if spec.kind == Kind::Unsigned {
        return Ok(payload);
    }
    let token = jws::sign_compact(payload.as_bytes(), &signer.jws, at, jws::DEFAULT_TTL)?;
    Ok(match spec.kind {
        Kind::Tampered => {
            let mut parts = token.split('.');
            let (header, _, signature) = (
                parts.next().ok_or("JWS header")?,
                parts.next().ok_or("JWS payload")?,
                parts.next().ok_or("JWS signature")?,
            );
            let mut forged: Value = serde_json::from_str(&payload)?;
            forged["request"]["idnp"] = json!(spec.other_subject);
            format!(
                "{header}.{}.{signature}",
                URL_SAFE_NO_PAD.encode(forged.to_string())
            )
        }
        Kind::Oversized => format!("{token}{}", " ".repeat(OVERSIZE_PADDING)),
        _ => token,
    })
}

// ---------------------------------------------------------------------------------------------
// The load.

/// What came back for one request.
struct Outcome {
    status: u16,
    content_type: String,
    detached: Option<String>,
    body: Vec<u8>,
    /// From just before the request was sent to the last byte of the answer.
    latency: Duration,
    /// When the request was sent and answered, from the start of the load.
    sent_at: Duration,
    done_at: Duration,
}

type Sent = Result<Outcome, String>;

async fn send(world: &World, request: &Request, epoch: Instant) -> Sent {
    let client = &world.agencies[request.agency].http;
    let mut builder = client
        .post(format!("{}{}", world.address, request.path))
        .header("Content-Type", request.content_type)
        .body(request.body.clone());
    if let Some(action) = &request.soap_action {
        builder = builder.header("SOAPAction", action);
    }
    let started = Instant::now();
    let response = builder.send().await.map_err(|e| transport_error(&e))?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let detached = header("x-jws-signature");
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(&e))?
        .to_vec();
    let done = Instant::now();
    Ok(Outcome {
        status,
        content_type,
        detached,
        body,
        latency: done - started,
        sent_at: started - epoch,
        done_at: done - epoch,
    })
}

/// A transport failure, without the URL (which is harmless, but says nothing useful).
fn transport_error(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    };
    format!("transport error ({what})")
}

async fn load(
    world: Arc<World>,
    requests: Arc<Vec<Request>>,
    items: Arc<Vec<Item>>,
    concurrency: usize,
) -> Result<(Vec<Option<Sent>>, Duration), BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let epoch = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(items.len()) {
        let (world, requests, items, next) =
            (world.clone(), requests.clone(), items.clone(), next.clone());
        tasks.spawn(async move {
            let mut done: Vec<(usize, Sent)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else {
                    break;
                };
                match *item {
                    Item::One(r) => done.push((r, send(&world, &requests[r], epoch).await)),
                    Item::Pair(first, replay) => {
                        // The replay goes once the original's answer is in.
                        done.push((first, send(&world, &requests[first], epoch).await));
                        done.push((replay, send(&world, &requests[replay], epoch).await));
                    }
                }
            }
            done
        });
    }
    let mut outcomes: Vec<Option<Sent>> = (0..requests.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        for (index, sent) in joined? {
            outcomes[index] = Some(sent);
        }
    }
    Ok((outcomes, epoch.elapsed()))
}

// ---------------------------------------------------------------------------------------------
// Checking the answers.

/// Something that did not go as expected. Never carries an IDNP: only kinds, codes, statuses
/// and field paths.
struct Mismatch {
    request: usize,
    check: &'static str,
    expected: String,
    got: String,
}

/// What an answer turned out to be, for the tables.
struct Verdict {
    /// `200 answered`, the refusal's code, or what else came back.
    got: String,
    answered: bool,
    problems: Vec<(&'static str, String, String)>,
    /// `provider::released_fields` of an answer.
    released: Vec<String>,
}

impl Verdict {
    fn problem(
        &mut self,
        check: &'static str,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) {
        self.problems.push((check, expected.into(), got.into()));
    }
}

fn check(world: &World, request: &Request, outcome: &Outcome) -> Verdict {
    match request.transport {
        Transport::Soap => check_soap(world, request, outcome),
        Transport::Rest => check_rest(world, request, outcome),
    }
}

fn header_text(document: &roxmltree::Document<'_>, name: &str) -> Option<String> {
    document
        .descendants()
        .find(|n| {
            n.is_element()
                && n.tag_name().name() == name
                && n.tag_name().namespace() == Some(envelope::MCONNECT_NS)
                && n.parent().is_some_and(|p| p.tag_name().name() == "Header")
        })
        .map(xml::text_of)
}

fn check_soap(world: &World, request: &Request, outcome: &Outcome) -> Verdict {
    let expected_code = request.kind.expected_code();
    let mut verdict = Verdict {
        got: format!("HTTP {}", outcome.status),
        answered: false,
        problems: Vec::new(),
        released: Vec::new(),
    };
    let Ok(text) = std::str::from_utf8(&outcome.body) else {
        verdict.problem(
            "outcome",
            request.expected_label(),
            "an answer that is not UTF-8",
        );
        return verdict;
    };
    let document = match xml::parse(text) {
        Ok(document) => document,
        Err(_) => {
            verdict.problem(
                "outcome",
                request.expected_label(),
                "an answer that is not XML",
            );
            return verdict;
        }
    };
    let Ok(envelope) = Envelope::read(&document) else {
        verdict.problem(
            "outcome",
            request.expected_label(),
            "an answer that is no envelope",
        );
        return verdict;
    };
    let fault_code = envelope
        .payload()
        .filter(|p| p.tag_name().name() == "Fault")
        .map(|fault| {
            fault
                .descendants()
                .find(|n| n.has_tag_name((envelope::MCONNECT_NS, "Code")))
                .map(xml::text_of)
                .unwrap_or_else(|| "(fault without mc:Code)".into())
        });
    verdict.got = match (&fault_code, outcome.status) {
        (None, 200) => "200 answered".into(),
        (Some(code), 500) => code.clone(),
        (Some(code), status) => format!("HTTP {status} {code}"),
        (None, status) => format!("HTTP {status} without a fault"),
    };
    verdict.answered = fault_code.is_none() && outcome.status == 200;
    let expected_label = request.expected_label();
    if verdict.got != expected_label {
        verdict.problem("outcome", expected_label, verdict.got.clone());
    }
    if !outcome.content_type.starts_with("text/xml") {
        verdict.problem("content type", "text/xml", outcome.content_type.clone());
    }

    // Signed by the hub, whatever the answer.
    match wssec::verify_envelope(text, &world.trust, SystemTime::now()) {
        Ok(verified) => {
            let signer =
                esocial_wire::mconnect::client::common_name(&verified.signer_certificate_der);
            if signer.as_deref() != Some("hub") {
                verdict.problem(
                    "signature",
                    "signed by hub",
                    "signed by another certificate",
                );
            }
        }
        Err(error) => verdict.problem("signature", "a verifying signature", error.to_string()),
    }

    // Bound to the request: RequestHash always; RelatesTo on an answer, and on a refusal
    // either empty (the hub could not read the request's headers) or the request's own id.
    let relates_to = header_text(&document, "RelatesTo").unwrap_or_default();
    let hash = header_text(&document, "RequestHash").unwrap_or_default();
    if hash != request.hash {
        verdict.problem(
            "binding",
            "RequestHash of the request",
            "another RequestHash",
        );
    }
    let bound = if verdict.answered {
        // An answer's binding must be complete, with the one hash algorithm accepted.
        envelope
            .binding()
            .is_some_and(|b| b.relates_to == request.message_id && b.request_hash == request.hash)
    } else {
        relates_to.is_empty() || relates_to == request.message_id
    };
    if !bound {
        verdict.problem(
            "binding",
            "RelatesTo the request's MessageId",
            "another RelatesTo",
        );
    }

    if verdict.answered && expected_code.is_none() {
        let payload = envelope.payload().expect("an answer has a payload");
        let expected_root = format!("{}Response", request.service.name());
        if payload.tag_name().name() != expected_root {
            verdict.problem(
                "answer",
                expected_root,
                payload.tag_name().name().to_string(),
            );
        }
        let answer = element_json(payload);
        check_answer(world, request, &answer, &mut verdict);
    }
    check_no_idnp(request, text, verdict.answered, &mut verdict);
    verdict
}

/// A SOAP answer payload as canonical JSON (keys from element names, `Xs` holding `X` items as
/// a list; leaves as text, which is all that field paths need).
fn element_json(node: roxmltree::Node<'_, '_>) -> Value {
    let children: Vec<_> = node.children().filter(|c| c.is_element()).collect();
    if children.is_empty() {
        return Value::String(xml::text_of(node));
    }
    let name = node.tag_name().name();
    if let Some(item) = name.strip_suffix('s')
        && children.iter().all(|c| c.tag_name().name() == item)
    {
        return Value::Array(children.into_iter().map(element_json).collect());
    }
    let mut map = Map::new();
    for child in children {
        let name = child.tag_name().name();
        let key = if name == "IDNP" {
            "idnp".to_string()
        } else {
            let mut chars = name.chars();
            chars
                .next()
                .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
                .unwrap_or_default()
        };
        map.insert(key, element_json(child));
    }
    Value::Object(map)
}

fn check_rest(world: &World, request: &Request, outcome: &Outcome) -> Verdict {
    let mut verdict = Verdict {
        got: format!("HTTP {}", outcome.status),
        answered: false,
        problems: Vec::new(),
        released: Vec::new(),
    };
    let expected_label = request.expected_label();
    let now = SystemTime::now();
    if outcome.status == 200 {
        verdict.got = "200 answered".into();
        verdict.answered = true;
        if verdict.got != expected_label {
            verdict.problem("outcome", expected_label, verdict.got.clone());
        }
        if outcome.content_type != "application/jose" {
            verdict.problem(
                "content type",
                "application/jose",
                outcome.content_type.clone(),
            );
        }
        let token = String::from_utf8_lossy(&outcome.body);
        let verified = match jws::verify_compact(token.trim(), &world.verifier, now) {
            Ok(verified) => verified,
            Err(error) => {
                verdict.problem("signature", "a verifying JWS", error.to_string());
                return verdict;
            }
        };
        if verified.signer_common_name != "hub" {
            verdict.problem(
                "signature",
                "signed by hub",
                "signed by another certificate",
            );
        }
        let Ok(payload) = serde_json::from_slice::<Value>(&verified.payload) else {
            verdict.problem("answer", "a JSON payload", "another payload");
            return verdict;
        };
        if payload["mconnect"]["relatesTo"] != request.message_id.as_str() {
            verdict.problem(
                "binding",
                "relatesTo the request's messageId",
                "another relatesTo",
            );
        }
        if payload["mconnect"]["requestHash"] != request.hash.as_str() {
            verdict.problem(
                "binding",
                "requestHash of the request",
                "another requestHash",
            );
        }
        if request.kind == Kind::Valid {
            check_answer(world, request, &payload["response"], &mut verdict);
        }
        check_no_idnp(request, &payload.to_string(), true, &mut verdict);
        return verdict;
    }

    let problem: Value = serde_json::from_slice(&outcome.body).unwrap_or_default();
    let code = problem["code"].as_str().unwrap_or("(no code)").to_string();
    let expected_status = request.kind.expected_code().map(rest_status);
    verdict.got = if Some(outcome.status) == expected_status {
        code.clone()
    } else {
        format!("HTTP {} {code}", outcome.status)
    };
    if verdict.got != expected_label {
        verdict.problem("outcome", expected_label, verdict.got.clone());
    }
    if problem["status"] != outcome.status {
        verdict.problem(
            "problem",
            "status equal to the HTTP status",
            problem["status"].to_string(),
        );
    }
    if outcome.content_type != "application/problem+json" {
        verdict.problem(
            "content type",
            "application/problem+json",
            outcome.content_type.clone(),
        );
    }
    match outcome
        .detached
        .as_deref()
        .and_then(|detached| esocial_hub::api::mconnect::attach_detached(detached, &outcome.body))
    {
        None => verdict.problem("signature", "an X-JWS-Signature", "none"),
        Some(attached) => match jws::verify_compact(&attached, &world.verifier, now) {
            Ok(verified) if verified.signer_common_name == "hub" => {}
            Ok(_) => verdict.problem(
                "signature",
                "signed by hub",
                "signed by another certificate",
            ),
            Err(error) => verdict.problem("signature", "a verifying JWS", error.to_string()),
        },
    }
    if problem["requestHash"] != request.hash.as_str() {
        verdict.problem(
            "binding",
            "requestHash of the request",
            "another requestHash",
        );
    }
    let relates_to = problem["relatesTo"].as_str().unwrap_or_default();
    if !(relates_to.is_empty() || relates_to == request.message_id) {
        verdict.problem(
            "binding",
            "relatesTo empty or the request's",
            "another relatesTo",
        );
    }
    check_no_idnp(
        request,
        &String::from_utf8_lossy(&outcome.body),
        false,
        &mut verdict,
    );
    verdict
}

/// A refusal says why, never about whom; an answer names its subject and no one else.
fn check_no_idnp(request: &Request, text: &str, answered: bool, verdict: &mut Verdict) {
    if !answered && text.contains(&request.subject) {
        verdict.problem("privacy", "no IDNP in the refusal", "the subject's IDNP");
    }
    if request.other_idnps.iter().any(|idnp| text.contains(idnp)) {
        verdict.problem(
            "privacy",
            "no IDNP of the request but the subject's",
            "another IDNP of the request",
        );
    }
}

/// The fields an agency may see: its grant's, what holds them, and what every answer keeps.
fn check_answer(world: &World, request: &Request, answer: &Value, verdict: &mut Verdict) {
    verdict.released = released_fields(answer);
    let Some(grant) = world.grant(request.agency, request.service) else {
        verdict.problem("grant", "no answer without a grant", "an answer");
        return;
    };
    for field in grant_violations(request.service, grant, &verdict.released) {
        verdict.problem("grant", "only granted fields", format!("`{field}`"));
    }
    if let Some(types) = &grant.case_types {
        for case in answer["cases"].as_array().into_iter().flatten() {
            let kind = case["type"].as_str().unwrap_or("(none)");
            if !types.iter().any(|t| t == kind) {
                verdict.problem("grant", "only granted case types", format!("`{kind}`"));
            }
        }
    }
    match request.service {
        InboundService::NotifyCaseRelevantEvent => {
            if answer["status"] != "accepted" || answer["eventId"].as_str().is_none() {
                verdict.problem("answer", "an accepted event with its id", "another answer");
            }
        }
        _ => {
            if answer["idnp"] != request.subject.as_str() {
                verdict.problem("answer", "the subject asked about", "another subject");
            }
        }
    }
    // `hasActiveCase` speaks of the cases the agency may learn of, not of the others.
    if request.service == InboundService::ActiveCases
        && let Some(flag) = answer.get("hasActiveCase")
    {
        let flag = *flag == true || *flag == "true";
        let released = answer["cases"].as_array().is_some_and(|c| !c.is_empty());
        if flag != released {
            verdict.problem(
                "answer",
                "hasActiveCase as the released cases say",
                format!("hasActiveCase {flag} with released cases {released}"),
            );
        }
    }
}

/// Released fields no grant field covers: a field is released by a grant of it, of what holds
/// it, or (an empty list that holds granted fields) of what it holds.
fn grant_violations(
    service: InboundService,
    grant: &AgencyGrantSettings,
    released: &[String],
) -> Vec<String> {
    let Some(fields) = &grant.fields else {
        return released
            .iter()
            .filter(|f| !service.answer_has_field(f))
            .cloned()
            .collect();
    };
    let always: &[&str] = match service {
        InboundService::NotifyCaseRelevantEvent => &["eventId", "receivedAt", "status"],
        _ => &["idnp"],
    };
    let allowed: Vec<String> = fields
        .iter()
        .cloned()
        .chain(always.iter().map(|f| f.to_string()))
        .collect();
    released
        .iter()
        .filter(|field| {
            !allowed.iter().any(|a| {
                *field == a
                    || field.starts_with(&format!("{a}."))
                    || a.starts_with(&format!("{field}."))
            })
        })
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checking the exchange log.

struct LogCheck {
    rows: usize,
    matched: usize,
    in_progress: usize,
    unexpected: usize,
    mismatches: Vec<Mismatch>,
}

fn expected_row(world: &World, request: &Request) -> (String, &'static str, Option<String>) {
    (
        world.agencies[request.agency].name.to_string(),
        if request.kind.expected_code().is_none() {
            "completed"
        } else {
            "failed"
        },
        request.kind.expected_code().map(str::to_string),
    )
}

fn row_tuple(row: &ExchangeRecord) -> (String, &'static str, Option<String>) {
    (
        row.client_id.clone(),
        match row.status {
            ExchangeStatus::Completed => "completed",
            ExchangeStatus::Failed => "failed",
            ExchangeStatus::InProgress => "in_progress",
        },
        row.error_code.clone(),
    )
}

fn describe_row(row: &(String, &'static str, Option<String>)) -> String {
    match &row.2 {
        Some(code) => format!("{} {} {code}", row.0, row.1),
        None => format!("{} {}", row.0, row.1),
    }
}

fn check_log(world: &World, requests: &[Request], rows: &[ExchangeRecord]) -> LogCheck {
    // Rows are matched to requests by the digest of what the hub read, which is unique per
    // request except for a replay (the same bytes) and oversized bodies (none read).
    let mut by_digest: BTreeMap<&str, Vec<&ExchangeRecord>> = BTreeMap::new();
    for row in rows {
        by_digest
            .entry(row.request_digest.as_deref().unwrap_or(""))
            .or_default()
            .push(row);
    }
    let mut check = LogCheck {
        rows: rows.len(),
        matched: 0,
        in_progress: rows
            .iter()
            .filter(|r| r.status == ExchangeStatus::InProgress)
            .count(),
        unexpected: 0,
        mismatches: Vec::new(),
    };
    let mut unmatched: Vec<usize> = Vec::new();
    for (index, request) in requests.iter().enumerate() {
        let expected = expected_row(world, request);
        let group = by_digest.entry(request.digest.as_str()).or_default();
        match group.iter().position(|row| row_tuple(row) == expected) {
            Some(position) => {
                let row = group.remove(position);
                check.matched += 1;
                if row.status == ExchangeStatus::Completed {
                    check_released_in_log(world, request, index, row, &mut check.mismatches);
                }
            }
            None => unmatched.push(index),
        }
    }
    for index in unmatched {
        let request = &requests[index];
        let group = by_digest.entry(request.digest.as_str()).or_default();
        let got = if group.is_empty() {
            "no row".to_string()
        } else {
            describe_row(&row_tuple(group.remove(0)))
        };
        check.mismatches.push(Mismatch {
            request: index,
            check: "exchange log",
            expected: describe_row(&expected_row(world, request)),
            got,
        });
    }
    check.unexpected = by_digest.values().map(Vec::len).sum();
    check
}

fn check_released_in_log(
    world: &World,
    request: &Request,
    index: usize,
    row: &ExchangeRecord,
    mismatches: &mut Vec<Mismatch>,
) {
    let Some(grant) = world.grant(request.agency, request.service) else {
        return;
    };
    let released = row.fields_released.clone().unwrap_or_default();
    for field in grant_violations(request.service, grant, &released) {
        mismatches.push(Mismatch {
            request: index,
            check: "exchange log",
            expected: "fields released within the grant".into(),
            got: format!("`{field}` recorded as released"),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The run and its report.

struct Results {
    knobs: Knobs,
    started: OffsetDateTime,
    subjects: Subjects,
    requests: Vec<Request>,
    verdicts: Vec<Verdict>,
    outcomes: Vec<Option<Sent>>,
    mismatches: Vec<Mismatch>,
    log: LogCheck,
    wall: Duration,
    signing: Duration,
    load_before: String,
    load_after: String,
    cpu: CpuUse,
}

async fn run(knobs: &Knobs) -> Result<usize, BoxError> {
    let started = OffsetDateTime::now_utc();
    eprintln!("inbound_load: starting the hub and the simulators");
    let world = Arc::new(start_world(knobs).await?);
    eprintln!("inbound_load: registering subjects in the master index");
    let subjects = register_subjects(&world, knobs).await?;
    let (specs, items) = plan(&world, &subjects, knobs);
    eprintln!("inbound_load: signing {} requests", specs.len());
    let signing_started = Instant::now();
    let now = SystemTime::now();
    let mut requests: Vec<Request> = Vec::with_capacity(specs.len());
    for spec in &specs {
        let request = match (spec.kind, requests.last()) {
            // The plan puts a replay right after its original: the same bytes again.
            (Kind::Replayed, Some(original)) => replay_of(original),
            _ => build(spec, &world, now)?,
        };
        requests.push(request);
    }
    let signing = signing_started.elapsed();
    let requests = Arc::new(requests);

    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpu = CpuMeter::start();
    eprintln!(
        "inbound_load: sending {} requests from {} tasks",
        requests.len(),
        knobs.concurrency
    );
    let (outcomes, wall) = load(
        world.clone(),
        requests.clone(),
        Arc::new(items),
        knobs.concurrency,
    )
    .await?;
    let cpu = cpu.stop();
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    eprintln!("inbound_load: checking the answers and the exchange log");
    let mut mismatches = Vec::new();
    let mut verdicts = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let verdict = match &outcomes[index] {
            Some(Ok(outcome)) => check(&world, request, outcome),
            Some(Err(error)) => Verdict {
                got: error.clone(),
                answered: false,
                problems: vec![("outcome", request.expected_label(), error.clone())],
                released: Vec::new(),
            },
            None => Verdict {
                got: "not sent".into(),
                answered: false,
                problems: vec![("outcome", request.expected_label(), "not sent".into())],
                released: Vec::new(),
            },
        };
        for (check, expected, got) in &verdict.problems {
            mismatches.push(Mismatch {
                request: index,
                check,
                expected: expected.clone(),
                got: got.clone(),
            });
        }
        verdicts.push(verdict);
    }
    let rows = world.store.inbound_exchanges().await?;
    let mut log = check_log(&world, &requests, &rows);
    mismatches.append(&mut log.mismatches);
    let count = mismatches.len() + log.unexpected + log.in_progress;

    let requests = Arc::try_unwrap(requests).map_err(|_| "requests still shared")?;
    let results = Results {
        knobs: knobs.clone(),
        started,
        subjects,
        requests,
        verdicts,
        outcomes,
        mismatches,
        log,
        wall,
        signing,
        load_before,
        load_after,
        cpu,
    };
    let report = render_report(&world, &results);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{report}")?;
    out.flush()?;
    let path = std::env::var("BENCH_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/inbound-load.md"));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, report)?;
    eprintln!("inbound_load: report written to {}", path.display());
    Ok(count)
}

/// CPU time (user + system, seconds) this process has used so far.
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces; utime and
    // stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// The machine's CPU time so far from /proc/stat, in ticks: (busy, idle, waiting for I/O).
fn machine_ticks() -> Option<(f64, f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<f64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let (idle, iowait) = (*values.get(3)?, *values.get(4)?);
    let busy: f64 = values.iter().take(8).sum::<f64>() - idle - iowait;
    Some((busy, idle, iowait))
}

/// How busy this process and the machine were during the load.
struct CpuMeter {
    started: Instant,
    own: Option<f64>,
    machine: Option<(f64, f64, f64)>,
}

struct CpuUse {
    wall: f64,
    own: Option<f64>,
    /// Shares of all CPU time: busy, idle, waiting for I/O.
    machine: Option<(f64, f64, f64)>,
}

impl CpuMeter {
    fn start() -> Self {
        Self {
            started: Instant::now(),
            own: own_cpu_seconds(),
            machine: machine_ticks(),
        }
    }

    fn stop(self) -> CpuUse {
        let own = self
            .own
            .and_then(|before| Some(own_cpu_seconds()? - before));
        let machine = self.machine.and_then(|(b0, i0, w0)| {
            let (b1, i1, w1) = machine_ticks()?;
            let (busy, idle, wait) = (b1 - b0, i1 - i0, w1 - w0);
            let total = busy + idle + wait;
            (total > 0.0).then(|| (busy / total, idle / total, wait / total))
        });
        CpuUse {
            wall: self.started.elapsed().as_secs_f64(),
            own,
            machine,
        }
    }
}

fn loadavg(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Latencies in milliseconds, sorted, of the requests `select` picks.
fn latencies(results: &Results, select: impl Fn(usize) -> bool) -> Vec<f64> {
    let mut out: Vec<f64> = results
        .outcomes
        .iter()
        .enumerate()
        .filter(|(i, _)| select(*i))
        .filter_map(|(_, o)| o.as_ref()?.as_ref().ok())
        .map(|o| o.latency.as_secs_f64() * 1000.0)
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn render_report(world: &World, results: &Results) -> String {
    let mut md = String::new();
    let mut line = |text: String| {
        md.push_str(&text);
        md.push('\n');
    };
    let knobs = &results.knobs;
    let requests = &results.requests;
    let n = requests.len();
    let valid = requests.iter().filter(|r| r.kind == Kind::Valid).count();
    let mismatch_count =
        results.mismatches.len() + results.log.unexpected + results.log.in_progress;
    let cores = logical_cpus();
    let rustc = rustc_version();

    line("# MConnect provider under a mixed load: every invalid request refused, every valid one answered".into());
    line(String::new());
    line(format!(
        "Produced by `scripts/bench-inbound.sh` (`cargo bench --bench inbound_load`, release \
         profile) on {}.",
        results
            .started
            .format(&Rfc3339)
            .unwrap_or_else(|_| "unknown date".into())
    ));
    line(String::new());
    let mismatched_requests = results
        .mismatches
        .iter()
        .map(|m| m.request)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    line(format!(
        "**{n} requests, {valid} valid and {} invalid: {mismatch_count} mismatches \
         ({mismatched_requests} requests with a failed check, {} exchange-log rows matching no \
         request or left in progress).**",
        n - valid,
        results.log.unexpected + results.log.in_progress
    ));
    line(String::new());
    line("Reproduce:".into());
    line(String::new());
    line("```sh".into());
    line(format!(
        "BENCH_N={} BENCH_CONCURRENCY={} BENCH_SEED={} BENCH_SUBJECTS={}{} \
         scripts/bench-inbound.sh",
        knobs.n,
        knobs.concurrency,
        knobs.seed,
        knobs.subjects,
        knobs
            .store_dir
            .as_ref()
            .map(|d| format!(" BENCH_STORE_DIR={}", d.display()))
            .unwrap_or_default()
    ));
    line("```".into());
    line(String::new());

    for machine_line in machine_section(cores, &rustc) {
        line(machine_line);
    }
    line(format!(
        "- Load average (1/5/15 min) before the load: {}; after: {}",
        loadavg(&results.load_before),
        loadavg(&results.load_after)
    ));
    line(
        "- The hub, the registry simulators and the load generator run in one process on this \
         machine and share its CPUs with whatever else runs there."
            .into(),
    );
    line(String::new());

    line("## Settings".into());
    line(String::new());
    let store_dir = knobs.store_dir.clone().unwrap_or_else(std::env::temp_dir);
    line(format!(
        "- Hub: `demo::embedded_settings` (2 API workers, SQLite with 4 connections, the file \
         on {}, `server.max_body_bytes` = 64 KiB), the demo agencies and their grants, a \
         simulator for every registry (only case management is called), over mTLS on \
         loopback; a fresh development PKI and database. Logs at `RUST_LOG` (default `warn`: \
         one line per refusal).",
        filesystem_of(&store_dir)
    ));
    let outcomes: Vec<String> = results
        .subjects
        .outcomes
        .iter()
        .map(|(outcome, count)| format!("{count} {outcome}"))
        .collect();
    line(format!(
        "- Master index: {} subjects registered through `POST /api/v1/persons/records` as \
         `{DEMO_CLIENT}` before the load ({} fixture subjects of the case-management \
         simulator, {} living persons of the default synthetic population, taken in turn \
         from those with a child-protection or domestic-violence case ({}), else with a \
         benefit ({}), and with neither ({}); matching outcomes: {}). About one valid request in five asks about one of {} other living \
         persons, whom the index does not know (eSocial answers that there is no case).",
        results.subjects.registered.len(),
        FIXTURE_SUBJECTS.len(),
        results.subjects.registered.len() - FIXTURE_SUBJECTS.len(),
        results.subjects.profiles[0],
        results.subjects.profiles[1],
        results.subjects.profiles[2],
        outcomes.join(", "),
        results.subjects.unregistered.len(),
    ));
    line(format!(
        "- Load: {n} requests from {} concurrent tasks (one reqwest client per agency, \
         connections kept alive), a deterministic mix shuffled with seed {}: half invalid, \
         the transports alternating, each transport cycling through its invalid kinds and each \
         kind through the (agency, service) pairs it applies to; the rest valid, evenly over \
         both transports and every granted pair. A replay is sent by the same task right after \
         the answer to its original, which counts as a valid request.",
        knobs.concurrency, knobs.seed
    ));
    line(format!(
        "- Every invalid request has exactly one defect on an otherwise valid request for a \
         granted service (the no-grant kind apart), so its code does not depend on the order \
         of the hub's checks. All {n} requests were built and signed before the clock started \
         ({:.1} s).",
        results.signing.as_secs_f64()
    ));
    line(
        "- Checked after the load, for every request: the outcome (answered, or refused with \
         exactly the expected code; on REST also the HTTP status); the hub's signature against \
         the development CA, by certificate `hub` (WS-Security; JWS, detached in \
         `X-JWS-Signature` for a refusal); the binding (`RequestHash` of the bytes the hub read, \
         `RelatesTo` the request's `MessageId`, which a refusal may leave empty when the \
         headers were never read); on answers, every field `provider::released_fields` lists \
         covered by the agency's grant, case types within the grant, the subject asked about, \
         no other IDNP of the request (the calling user's); on refusals, no IDNP of the request \
         at all. Then the exchange log: exactly one inbound row per \
         request (matched by the digest of the request), with its agency, status and code, \
         and released fields within the grant."
            .into(),
    );
    line(String::new());

    line("## Outcomes per kind".into());
    line(String::new());
    line("| Kind | Defect | SOAP | REST | Expected | As expected | Mismatched | p50 ms |".into());
    line("|---|---|---:|---:|---|---:|---:|---:|".into());
    for kind in Kind::ALL {
        let of_kind: Vec<usize> = (0..n).filter(|&i| requests[i].kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let soap = of_kind
            .iter()
            .filter(|&&i| requests[i].transport == Transport::Soap)
            .count();
        let bad = of_kind
            .iter()
            .filter(|&&i| !results.verdicts[i].problems.is_empty())
            .count();
        let lat = latencies(results, |i| requests[i].kind == kind);
        line(format!(
            "| {} | {} | {soap} | {} | {} | {} | {bad} | {:.1} |",
            kind.label(),
            kind.description(),
            of_kind.len() - soap,
            kind.expected_code()
                .map(|c| format!("`{c}`"))
                .unwrap_or_else(|| "200".into()),
            of_kind.len() - bad,
            percentile(&lat, 50.0),
        ));
    }
    line(format!(
        "| **all** | | {} | {} | | {} | {} | |",
        requests
            .iter()
            .filter(|r| r.transport == Transport::Soap)
            .count(),
        requests
            .iter()
            .filter(|r| r.transport == Transport::Rest)
            .count(),
        results
            .verdicts
            .iter()
            .filter(|v| v.problems.is_empty())
            .count(),
        results
            .verdicts
            .iter()
            .filter(|v| !v.problems.is_empty())
            .count(),
    ));
    line(String::new());
    line(
        "SOAP refusals are signed `soap:Fault`s with HTTP 500 and the code in `detail/mc:Code`; \
         REST refusals are signed problem+json documents with the code's HTTP status. \"As \
         expected\" means every check of the request passed; \"p50 ms\" is the median latency \
         of the kind."
            .into(),
    );
    line(String::new());

    line("## Outcomes as received".into());
    line(String::new());
    line("| Outcome | REST status | SOAP | REST | Total |".into());
    line("|---|---:|---:|---:|---:|".into());
    let mut got: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, verdict) in results.verdicts.iter().enumerate() {
        let entry = got.entry(verdict.got.clone()).or_default();
        match requests[i].transport {
            Transport::Soap => entry.0 += 1,
            Transport::Rest => entry.1 += 1,
        }
    }
    for (outcome, (soap, rest)) in &got {
        let status = if outcome == "200 answered" {
            "200".to_string()
        } else {
            match rest_status(outcome) {
                0 => "".into(),
                s => s.to_string(),
            }
        };
        let shown = if outcome.starts_with("caller.") || outcome.starts_with("hub.") {
            format!("`{outcome}`")
        } else {
            outcome.clone()
        };
        line(format!(
            "| {shown} | {status} | {soap} | {rest} | {} |",
            soap + rest
        ));
    }
    line(String::new());

    line("## Mix per agency and service".into());
    line(String::new());
    line("| Agency | Service | Granted | Valid sent | Answered | Invalid sent | Refused |".into());
    line("|---|---|---|---:|---:|---:|---:|".into());
    for (a, agency) in world.agencies.iter().enumerate() {
        for service in InboundService::ALL {
            let of: Vec<usize> = (0..n)
                .filter(|&i| requests[i].agency == a && requests[i].service == service)
                .collect();
            let valid: Vec<usize> = of
                .iter()
                .copied()
                .filter(|&i| requests[i].kind == Kind::Valid)
                .collect();
            let answered = of.iter().filter(|&&i| results.verdicts[i].answered).count();
            line(format!(
                "| {} | {} | {} | {} | {answered} | {} | {} |",
                agency.name,
                service.name(),
                if world.grant(a, service).is_some() {
                    "yes"
                } else {
                    "no"
                },
                valid.len(),
                of.len() - valid.len(),
                of.len() - answered,
            ));
        }
    }
    line(String::new());

    line("## Fields released".into());
    line(String::new());
    line(
        "Every field path `provider::released_fields` found in the valid answers, per granted \
         agency and service, with the number of answers that carried it (a list that came back \
         empty counts under the list's own path)."
            .into(),
    );
    line(String::new());
    line("| Agency | Service | Answers | Grant | Fields released (answers) |".into());
    line("|---|---|---:|---|---|".into());
    for (a, agency) in world.agencies.iter().enumerate() {
        for service in InboundService::ALL {
            let Some(grant) = world.grant(a, service) else {
                continue;
            };
            let answers: Vec<&Verdict> = (0..n)
                .filter(|&i| {
                    requests[i].agency == a
                        && requests[i].service == service
                        && requests[i].kind == Kind::Valid
                        && results.verdicts[i].answered
                })
                .map(|i| &results.verdicts[i])
                .collect();
            let mut fields: BTreeMap<&str, usize> = BTreeMap::new();
            for verdict in &answers {
                for field in &verdict.released {
                    *fields.entry(field.as_str()).or_default() += 1;
                }
            }
            let granted = match &grant.fields {
                Some(fields) => fields.join(", "),
                None => "all".into(),
            };
            let granted = match &grant.case_types {
                Some(types) => format!("{granted}; case types {}", types.join(", ")),
                None => granted,
            };
            let released: Vec<String> = fields
                .iter()
                .map(|(field, count)| format!("`{field}` ({count})"))
                .collect();
            line(format!(
                "| {} | {} | {} | {granted} | {} |",
                agency.name,
                service.name(),
                answers.len(),
                released.join(", ")
            ));
        }
    }
    line(String::new());

    line("## Mismatches".into());
    line(String::new());
    if mismatch_count == 0 {
        line(
            "None: every valid request was answered and every invalid one refused with its \
             code, all signed and bound, nothing outside a grant released, and the exchange \
             log holds exactly one row per request with the expected agency, status and code."
                .into(),
        );
    } else {
        line(format!(
            "{mismatch_count} mismatches: {} failed checks in {mismatched_requests} requests, \
             listed below, and {} exchange-log rows matching no request or left in progress.",
            results.mismatches.len(),
            results.log.unexpected + results.log.in_progress
        ));
        line(String::new());
        line("| Request | Kind | Transport | Agency | Service | Check | Expected | Got |".into());
        line("|---:|---|---|---|---|---|---|---|".into());
        for m in &results.mismatches {
            let r = &requests[m.request];
            line(format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                m.request,
                r.kind.label(),
                r.transport.label(),
                world.agencies[r.agency].name,
                r.service.name(),
                m.check,
                m.expected.replace('|', "\\|"),
                m.got.replace('|', "\\|"),
            ));
        }
        if results.log.unexpected > 0 {
            line(String::new());
            line(format!(
                "{} rows in the exchange log match no request.",
                results.log.unexpected
            ));
        }
        if results.log.in_progress > 0 {
            line(String::new());
            line(format!(
                "{} rows in the exchange log are still `in_progress`.",
                results.log.in_progress
            ));
        }
    }
    line(String::new());

    line("## Exchange log".into());
    line(String::new());
    line(format!(
        "- Inbound rows: {} for {n} requests; matched one to one: {}; rows matching no request: \
         {}; rows still in progress: {}.",
        results.log.rows, results.log.matched, results.log.unexpected, results.log.in_progress
    ));
    line(String::new());

    line("## Throughput and latency".into());
    line(String::new());
    let sent: Vec<&Outcome> = results
        .outcomes
        .iter()
        .filter_map(|o| o.as_ref()?.as_ref().ok())
        .collect();
    let first = sent.iter().map(|o| o.sent_at).min().unwrap_or_default();
    let last = sent.iter().map(|o| o.done_at).max().unwrap_or_default();
    let span = (last - first).as_secs_f64();
    let answered = results.verdicts.iter().filter(|v| v.answered).count();
    line(format!(
        "- {} requests in {:.2} s (first sent to last answer): **{:.1} requests/s**; {answered} \
         answered ({:.1}/s) and {} refused ({:.1}/s) within that time.",
        sent.len(),
        span,
        sent.len() as f64 / span,
        answered as f64 / span,
        sent.len() - answered,
        (sent.len() - answered) as f64 / span,
    ));
    line(format!(
        "- Wall time of the load phase, tasks started to tasks joined: {:.2} s.",
        results.wall.as_secs_f64()
    ));
    let cpu = &results.cpu;
    if let Some(own) = cpu.own {
        line(format!(
            "- CPU during the load: this process (hub, simulators and load generator) used \
             {own:.1} CPU-s, {:.0} % of the {cores} CPUs over {:.1} s{}.",
            100.0 * own / (cpu.wall * cores.max(1) as f64),
            cpu.wall,
            match cpu.machine {
                Some((busy, idle, wait)) => format!(
                    "; the whole machine (other work included) was {:.0} % busy, {:.0} % idle \
                     and {:.0} % waiting for I/O",
                    100.0 * busy,
                    100.0 * idle,
                    100.0 * wait
                ),
                None => String::new(),
            }
        ));
    }
    line(
        "- Latency: from just before the request is handed to the HTTP client to the last byte \
         of the answer (TLS, the hub's verification, checks, records, the case-management call \
         for a valid status or cases request, signing); nearest-rank percentiles."
            .into(),
    );
    line(String::new());
    line("| Requests | Count | p50 ms | p90 ms | p99 ms | max ms |".into());
    line("|---|---:|---:|---:|---:|---:|".into());
    let rows = [
        ("Answered (all)", true, None),
        ("Answered, SOAP", true, Some(Transport::Soap)),
        ("Answered, REST", true, Some(Transport::Rest)),
        ("Refused (all)", false, None),
        ("Refused, SOAP", false, Some(Transport::Soap)),
        ("Refused, REST", false, Some(Transport::Rest)),
    ];
    for (label, answered, transport) in rows {
        let lat = latencies(results, |i| {
            results.verdicts[i].answered == answered
                && transport.is_none_or(|t| requests[i].transport == t)
        });
        line(format!(
            "| {label} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            lat.len(),
            percentile(&lat, 50.0),
            percentile(&lat, 90.0),
            percentile(&lat, 99.0),
            lat.last().copied().unwrap_or(f64::NAN),
        ));
    }
    line(String::new());
    line(format!(
        "Latency figures are informational: {cores} CPUs shared by the hub, the simulators, the \
         load generator and other work on the machine (see the load average above), one run. \
         The correctness figures above do not depend on them."
    ));
    line(String::new());
    md
}
